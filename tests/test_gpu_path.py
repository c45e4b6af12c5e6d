"""The GPU path on the CPU: profiles, FP32 layer choice, Q/DQ placement, engine cache, install hints.

Tests marked `gpu` need a CUDA device and skip without one; everything else runs on the CPU.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from click.testing import CliRunner

from sotriage.errors import MissingArtifactError, SotriageError
from sotriage.export.qdq import QdqConfig, QuestionCalibrationReader, node_scope, quantization_plan, quantize_qdq
from sotriage.export.tensorrt import (
    convert_onnx_to_fp16,
    fp32_layer_names,
    onnx_float_nodes,
    profile_shapes,
)
from sotriage.runtime.engine_cache import (
    EngineIdentity,
    EngineMismatchError,
    engine_cache_key,
    engine_paths,
    find_engine,
    sidecar_record,
)
from sotriage.runtime.gpu import gpu_backend_status, gpu_backends_available, import_tensorrt, parity_report
from sotriage.runtime.tensorrt_backend import split_for_profile

REPO = Path(__file__).resolve().parents[1]
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the messages of a machine without CUDA")


# ---------------------------------------------------------------- helpers


def producers(model: onnx.ModelProto) -> dict[str, onnx.NodeProto]:
    return {output: node for node in model.graph.node for output in node.output}


def from_dequantize(model: onnx.ModelProto, tensor: str) -> bool:
    node = producers(model).get(tensor)
    return node is not None and node.op_type == "DequantizeLinear"


def encoder_and_questions(run_dir: Path, split: str, n: int):
    from sotriage.data.dataset import load_dataset
    from sotriage.io import read_json
    from sotriage.runtime.classifier import Classifier

    classifier = Classifier.load(str(run_dir), backend="onnx", threads=1)
    data_dir = read_json(run_dir / "split.json")["data_dir"]
    questions = load_dataset(data_dir).split(split).head(n)
    return classifier.encoder, questions


@pytest.fixture(scope="module")
def qdq_models(tiny_run, tmp_path_factory):
    """Q/DQ models of the tiny run's model.onnx: the default policy and every optional part quantized."""
    encoder, questions = encoder_and_questions(tiny_run, "train", 48)
    encoded = encoder.encode(questions.questions)
    out = tmp_path_factory.mktemp("qdq")
    models = {}
    for name, parts in (("default", ()), ("all", ("embeddings", "layernorm", "head"))):
        reader = QuestionCalibrationReader(encoded, encoder.pad_id, 8, ["input_ids", "attention_mask", "token_type_ids"])
        path = out / f"model-qdq-{name}.onnx"
        info = quantize_qdq(tiny_run / "onnx" / "model.onnx", path, reader, QdqConfig(calibration="percentile", quantize=parts))
        models[name] = (path, info)
    return models


# ---------------------------------------------------------------- optimization profiles


def test_profile_shapes_from_length_distribution():
    lengths = list(range(10, 210))  # p75 = 159.25
    profile = profile_shapes(lengths, max_length=256, max_batch=64)
    assert profile.min == (1, 1)
    assert profile.opt == (64, 160)  # p75 rounded up to a multiple of 8
    assert profile.max == (64, 256)


def test_profile_shapes_follow_percentile_and_cap():
    lengths = [20] * 50 + [500] * 50
    assert profile_shapes(lengths, 512, 32, opt_percentile=50).opt == (32, 264)  # p50 = 260 -> 264
    assert profile_shapes(lengths, 128, 32).opt == (32, 128)  # lengths above max_length are capped
    assert profile_shapes([3], 256, 16, opt_batch=8).opt == (8, 8)


@pytest.mark.parametrize("kwargs, message", [
    ({"lengths": [], "max_length": 256, "max_batch": 8}, "no token lengths"),
    ({"lengths": [0, 5], "max_length": 256, "max_batch": 8}, "invalid token length 0"),
    ({"lengths": [5], "max_length": 256, "max_batch": 0}, "--trt-max-batch 0"),
    ({"lengths": [5], "max_length": 256, "max_batch": 8, "opt_batch": 9}, "optimal batch 9"),
    ({"lengths": [5], "max_length": 0, "max_batch": 8}, "max_length 0"),
])
def test_profile_shapes_rejects_bad_input(kwargs, message):
    with pytest.raises(SotriageError, match=message):
        profile_shapes(**kwargs)


# ---------------------------------------------------------------- FP32 layers for FP16


def test_fp32_layers_on_onnx_graph(tiny_run):
    model = onnx.shape_inference.infer_shapes(onnx.load(str(tiny_run / "onnx" / "model.onnx")))
    selected = set(fp32_layer_names(onnx_float_nodes(model)))
    by_type = {node.name for node in model.graph.node if node.op_type in ("LayerNormalization", "Softmax")}
    assert by_type, "the tiny model's graph has LayerNormalization and Softmax nodes"
    assert selected == by_type
    assert len([n for n in by_type if "LayerNorm" in n]) == 5  # embeddings + 2 per layer, 2 layers
    assert not any(node.op_type == "MatMul" and node.name in selected for node in model.graph.node)


def test_fp32_layers_decomposed_layernorm(tiny_bert, tmp_path):
    from sotriage.export.onnx_export import export_onnx

    path = export_onnx(tiny_bert, tmp_path / "model-opset14.onnx", opset=14)  # no LayerNormalization op before 17
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    assert not any(node.op_type == "LayerNormalization" for node in model.graph.node)
    selected = set(fp32_layer_names(onnx_float_nodes(model)))
    pieces = {node.name for node in model.graph.node if "/LayerNorm/" in node.name and node.op_type in ("ReduceMean", "Pow", "Sqrt", "Div")}
    assert pieces
    assert pieces <= selected
    assert not any(node.op_type in ("MatMul", "Gemm", "Erf") and node.name in selected for node in model.graph.node)


def test_fp32_layers_tensorrt_type_names():
    layers = [
        ("/model/bert/encoder/layer.0/attention/self/query/MatMul", "MATRIX_MULTIPLY"),
        ("/model/bert/encoder/layer.0/output/LayerNorm/LayerNormalization", "NORMALIZATION"),
        ("/model/bert/encoder/layer.0/attention/self/Softmax", "SOFTMAX"),
        ("ForeignName_17", "SOFTMAX"),
        ("/model/bert/encoder/layer.0/intermediate/intermediate_act_fn/Erf", "UNARY"),
    ]
    assert fp32_layer_names(layers) == [layers[1][0], layers[2][0], layers[3][0]]
    assert fp32_layer_names(layers, kinds=("layernorm",)) == [layers[1][0]]
    with pytest.raises(SotriageError, match="unknown FP32 layer kind"):
        fp32_layer_names(layers, kinds=("gelu",))


def test_fp16_graph_keeps_fp32_nodes(tiny_run, tmp_path):
    from sotriage.runtime.onnx_backend import OnnxBackend

    source = tiny_run / "onnx" / "model.onnx"
    info = convert_onnx_to_fp16(source, tmp_path / "model-fp16.onnx")
    model = onnx.load(str(tmp_path / "model-fp16.onnx"))
    assert info["fp32_nodes"] == 7
    initializers = {init.name: init.data_type for init in model.graph.initializer}
    found = producers(model)
    for node in model.graph.node:
        if node.op_type in ("LayerNormalization", "Softmax"):
            # The input is a Cast to float32 inserted before the node.
            cast = found[node.input[0]]
            assert cast.op_type == "Cast", node.name
            assert cast.attribute[0].i == onnx.TensorProto.FLOAT, node.name
        if node.op_type == "MatMul" and node.input[1] in initializers:
            assert initializers[node.input[1]] == onnx.TensorProto.FLOAT16, node.name
    assert [i.type.tensor_type.elem_type for i in model.graph.input] == [onnx.TensorProto.INT64] * 3
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT

    rng = np.random.default_rng(0)
    feed = {"input_ids": rng.integers(5, 90, (4, 24)), "attention_mask": np.ones((4, 24), np.int64),
            "token_type_ids": np.zeros((4, 24), np.int64)}
    fp32 = OnnxBackend(source, 1)(feed)
    fp16 = OnnxBackend(tmp_path / "model-fp16.onnx", 1)(feed)
    assert np.abs(fp32 - fp16).max() < 1e-2


# ---------------------------------------------------------------- Q/DQ placement


def test_qdq_default_policy_quantizes_every_encoder_matmul(qdq_models):
    path, info = qdq_models["default"]
    model = onnx.load(str(path))
    matmuls = [node for node in model.graph.node if node.op_type == "MatMul" and "/encoder/layer." in node.name]
    assert len(matmuls) == 16  # 8 per layer: Q, K, V, QK^T, probabilities x V, attention output, 2 feed-forward
    for node in matmuls:
        assert from_dequantize(model, node.input[0]), f"{node.name} input A is not quantized"
        assert from_dequantize(model, node.input[1]), f"{node.name} input B is not quantized"
    assert info["placement"]["encoder_matmuls_quantized"] == 16


def test_qdq_default_policy_keeps_other_parts_float(qdq_models):
    path, _ = qdq_models["default"]
    model = onnx.load(str(path))
    initializers = {init.name: init for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Gather" and node.name.endswith("word_embeddings/Gather"):
            assert initializers[node.input[0]].data_type == onnx.TensorProto.FLOAT
        if node.op_type in ("LayerNormalization", "Softmax", "Add"):
            assert not any(from_dequantize(model, name) for name in node.input), f"{node.name} reads a Q/DQ tensor"
        if node.op_type == "Gemm":  # pooler and classifier
            assert not from_dequantize(model, node.input[0]), node.name
            assert not from_dequantize(model, node.input[1]), node.name


def test_qdq_zero_points_are_symmetric_int8(qdq_models):
    from onnx import numpy_helper

    path, _ = qdq_models["default"]
    model = onnx.load(str(path))
    initializers = {init.name: init for init in model.graph.initializer}
    zero_points = [initializers[node.input[2]] for node in model.graph.node
                   if node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(node.input) > 2]
    assert zero_points
    for zero_point in zero_points:
        assert zero_point.data_type == onnx.TensorProto.INT8
        assert not np.any(numpy_helper.to_array(zero_point))


def test_qdq_optional_parts_follow_flags(qdq_models):
    path, info = qdq_models["all"]
    model = onnx.load(str(path))
    nodes = {node.name: node for node in model.graph.node}
    word = next(node for name, node in nodes.items() if name.endswith("word_embeddings/Gather"))
    assert from_dequantize(model, word.input[0])
    for node in nodes.values():
        if node.op_type == "LayerNormalization":
            assert from_dequantize(model, node.input[0]), node.name
        if node.op_type == "Gemm":
            assert from_dequantize(model, node.input[0]), node.name
            assert from_dequantize(model, node.input[1]), node.name
    assert info["placement"]["head_linears_quantized"] == 2


def test_qdq_model_matches_fp32_in_onnxruntime(tiny_run, qdq_models):
    from sotriage.runtime.classifier import Classifier
    from sotriage.runtime.onnx_backend import OnnxBackend

    encoder, questions = encoder_and_questions(tiny_run, "validation", 64)
    encoded = encoder.encode(questions.questions)
    fp32 = Classifier(encoder, OnnxBackend(tiny_run / "onnx" / "model.onnx", 1), ["open", "closed"]).logits_for_encoded(encoded)
    qdq = Classifier(encoder, OnnxBackend(qdq_models["default"][0], 1), ["open", "closed"]).logits_for_encoded(encoded)
    # The tiny model's logits barely vary between questions, so only the relative error is meaningful.
    assert np.all(np.isfinite(qdq))
    assert np.abs(fp32 - qdq).max() < 0.01 * np.abs(fp32).max()


def test_qdq_rejects_fused_graph(tiny_run, tmp_path):
    encoder, questions = encoder_and_questions(tiny_run, "train", 8)
    reader = QuestionCalibrationReader(encoder.encode(questions.questions), encoder.pad_id, 8, ["input_ids"])
    with pytest.raises(SotriageError, match="contrib operators"):
        quantize_qdq(tiny_run / "onnx" / "model-fused.onnx", tmp_path / "x.onnx", reader, QdqConfig())
    assert not (tmp_path / "x.onnx").exists()


def test_quantization_plan_needs_encoder_names(tiny_run):
    model = onnx.load(str(tiny_run / "onnx" / "model.onnx"))
    for index, node in enumerate(model.graph.node):
        node.name = f"node_{index}"
    with pytest.raises(SotriageError, match="no MatMul inside an encoder layer"):
        quantization_plan(model)


def test_node_scope_names():
    assert node_scope("/model/bert/encoder/layer.3/attention/self/query/MatMul") == "encoder"
    assert node_scope("/model/distilbert/transformer/layer.0/ffn/lin1/MatMul") == "encoder"
    assert node_scope("/model/bert/embeddings/word_embeddings/Gather") == "embeddings"
    assert node_scope("/model/classifier/Gemm") == "head"


@pytest.mark.parametrize("kwargs, message", [
    ({"calibration": "mse"}, "invalid calibration method 'mse'"),
    ({"quantize": ("softmax",)}, "invalid --qdq-quantize softmax"),
    ({"calibration_examples": 0}, "--calibration-examples 0"),
    ({"percentile": 50.0}, "percentile 50.0"),
])
def test_qdq_config_rejects_bad_values(kwargs, message):
    with pytest.raises(SotriageError, match=message):
        QdqConfig(**kwargs)


def test_calibration_reader_ranges():
    from sotriage.encoding import Encoded

    encoded = [Encoded([2, *range(5, 5 + n), 3], [0] * (n + 2)) for n in (1, 7, 3, 9, 4)]
    reader = QuestionCalibrationReader(encoded, 0, 2, ["input_ids", "attention_mask"])
    assert len(reader) == 3
    shapes = []
    while (batch := reader.get_next()) is not None:
        assert set(batch) == {"input_ids", "attention_mask"}
        shapes.append(batch["input_ids"].shape)
    assert shapes == [(2, 11), (2, 6), (1, 3)]  # longest first, each padded to the length of its longest question
    reader.set_range(1, 2)
    assert reader.get_next()["input_ids"].shape == (2, 6)
    assert reader.get_next() is None


def test_engine_gate_checks_agreement_and_drop():
    from sotriage.errors import ParityError
    from sotriage.export.tensorrt_pipeline import _gate

    _gate("TensorRT int8", {"argmax_agreement": 0.97, "accuracy_drop": 0.002}, 0.95, 512, max_drop_points=0.3)
    with pytest.raises(ParityError, match="agrees with PyTorch FP32 on only 94.0% of 512"):
        _gate("TensorRT int8", {"argmax_agreement": 0.94, "accuracy_drop": 0.0}, 0.95, 512, max_drop_points=0.3)
    with pytest.raises(ParityError, match=r"loses 0.59 accuracy points .* \(limit 0.30\)"):
        _gate("TensorRT int8", {"argmax_agreement": 0.99, "accuracy_drop": 3 / 512}, 0.95, 512, max_drop_points=0.3)
    _gate("TensorRT int8", {"argmax_agreement": 0.99, "accuracy_drop": 3 / 512}, 0.95, 512, max_drop_points=None)


def test_int8_build_stops_at_tensorrt_without_writing(tiny_run, tmp_path, monkeypatch):
    """Profile, calibration, Q/DQ model and its ONNX Runtime check run on the CPU; no file is left behind."""
    from sotriage.export import tensorrt_pipeline
    from sotriage.export.tensorrt_pipeline import TensorRTExportConfig, build_tensorrt_engines
    from sotriage.run_dir import RunDir
    from sotriage.runtime.model_ref import resolve_model

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    built = {}
    original = tensorrt_pipeline.quantize_qdq

    def record_qdq(onnx_path, out_path, reader, config):
        built["info"] = original(onnx_path, out_path, reader, config)
        return built["info"]

    monkeypatch.setattr(tensorrt_pipeline, "quantize_qdq", record_qdq)
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir, symlinks=True)
    config = TensorRTExportConfig(precisions=("int8",), max_batch=16, parity_examples=24, profile_examples=40)
    config.qdq.calibration_examples = 16
    config.qdq.min_agreement = 0.5
    with pytest.raises(SotriageError, match="tensorrt not installed"):
        build_tensorrt_engines(resolve_model(run_dir), RunDir(run_dir), config)
    assert built["info"]["placement"]["encoder_matmuls_quantized"] == 16
    assert list((run_dir / "tensorrt").iterdir()) == []  # the work folder is gone, nothing moved in


# ---------------------------------------------------------------- engine cache


def identity(**changes) -> EngineIdentity:
    fields = {"model_sha256": "ab" * 32, "precision": "fp16", "tensorrt_version": "10.7.0", "gpu_name": "NVIDIA H200"}
    fields.update(changes)
    return EngineIdentity(**fields)


def test_engine_cache_key_changes_with_each_field():
    base = identity()
    assert base.cache_key() == engine_cache_key("ab" * 32, "fp16", "10.7.0", "NVIDIA H200")
    assert len(base.cache_key()) == 16
    for change in ({"model_sha256": "cd" * 32}, {"precision": "int8"}, {"tensorrt_version": "10.8.0"},
                   {"gpu_name": "NVIDIA A100-SXM4-80GB"}):
        assert identity(**change).cache_key() != base.cache_key(), change


def write_engine(engine_dir: Path, ident: EngineIdentity) -> Path:
    plan, sidecar = engine_paths(engine_dir, ident)
    engine_dir.mkdir(parents=True, exist_ok=True)
    plan.write_bytes(b"serialized engine bytes")
    sidecar.write_text(json.dumps(sidecar_record(ident, profile={"min": [1, 1]})), encoding="utf-8")
    return plan


def test_find_engine_returns_matching_plan(tmp_path):
    plan = write_engine(tmp_path, identity())
    assert find_engine(tmp_path, identity(), "sotriage export RUN --tensorrt fp16") == plan


def test_find_engine_rejects_other_gpu(tmp_path):
    write_engine(tmp_path, identity(gpu_name="NVIDIA A100-SXM4-80GB"))
    with pytest.raises(EngineMismatchError) as error:
        find_engine(tmp_path, identity(), "sotriage export RUN --tensorrt fp16")
    message = str(error.value)
    assert "gpu_name: engine 'NVIDIA A100-SXM4-80GB', this machine 'NVIDIA H200'" in message
    assert "sotriage export RUN --tensorrt fp16" in message
    assert "tensorrt_version" not in message


def test_find_engine_rejects_changed_model_and_version(tmp_path):
    write_engine(tmp_path, identity(model_sha256="cd" * 32, tensorrt_version="10.3.0"))
    with pytest.raises(EngineMismatchError, match="model_sha256: engine 'cdcd.*tensorrt_version: engine '10.3.0'"):
        find_engine(tmp_path, identity(), "rebuild")


def test_find_engine_rejects_edited_sidecar(tmp_path):
    plan = write_engine(tmp_path, identity())
    sidecar = plan.with_suffix(".json")
    record = json.loads(sidecar.read_text())
    record["identity"]["gpu_name"] = "NVIDIA L4"
    sidecar.write_text(json.dumps(record))
    with pytest.raises(EngineMismatchError, match="gpu_name"):
        find_engine(tmp_path, identity(), "rebuild")


def test_find_engine_missing_names_the_command(tmp_path):
    write_engine(tmp_path, identity(precision="int8"))  # another precision does not count
    with pytest.raises(MissingArtifactError, match="no TensorRT fp16 engine.*sotriage export RUN --tensorrt fp16"):
        find_engine(tmp_path, identity(), "sotriage export RUN --tensorrt fp16")


def test_engine_identity_rejects_unknown_precision():
    with pytest.raises(SotriageError, match="invalid TensorRT precision 'fp8'"):
        identity(precision="fp8")


# ---------------------------------------------------------------- runtime pieces and install hints


def test_split_for_profile_batches_and_rejects_long_sequence():
    assert split_for_profile(70, 128, 32, 256) == [slice(0, 32), slice(32, 64), slice(64, 70)]
    assert split_for_profile(5, 256, 32, 256) == [slice(0, 5)]
    with pytest.raises(SotriageError, match="sequence length 300 exceeds the TensorRT engine's max 256"):
        split_for_profile(4, 300, 32, 256)


def test_tensorrt_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # makes `import tensorrt` raise ImportError
    with pytest.raises(SotriageError, match=r"tensorrt not installed: pip install 'sotriage\[gpu\]'"):
        import_tensorrt()
    assert "pip install 'sotriage[gpu]'" in gpu_backend_status()["tensorrt-fp16"]


def test_onnx_cuda_hint_without_provider(monkeypatch):
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    reason = gpu_backend_status()["onnx-cuda"]
    assert "pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu" in reason


@needs_no_cuda
@pytest.mark.parametrize("name", ["torch-cuda-fp16", "torch-cuda-bf16", "tensorrt-fp16", "tensorrt-int8"])
def test_gpu_backends_without_cuda_raise(tiny_run, name):
    from sotriage.runtime.base import create_backend
    from sotriage.runtime.model_ref import resolve_model

    with pytest.raises(SotriageError, match=f"backend '{name}' cannot run here: no CUDA device"):
        create_backend(name, resolve_model(tiny_run).files)


@needs_no_cuda
def test_gpu_backends_available_is_empty_without_cuda(monkeypatch):
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert gpu_backends_available() == []
    assert all(reason for reason in gpu_backend_status().values())


def test_parity_report_values():
    reference = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.5], [0.1, 0.2]])
    logits = np.array([[0.9, 0.1], [0.3, 0.2], [2.0, 0.4], [0.1, 0.3]])
    report = parity_report(reference, logits, np.array([0, 1, 0, 0]))
    assert report["argmax_agreement"] == 0.75
    assert report["max_abs_logit_diff"] == pytest.approx(0.8)
    assert report["reference_accuracy"] == 0.75
    assert report["accuracy"] == 0.5
    assert report["accuracy_drop"] == pytest.approx(0.25)


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_torch_half_backend_matches_fp32_on_cpu(tiny_run, dtype):
    """The torch-cuda backend class, run on the CPU in half precision with SDPA attention."""
    from sotriage.runtime.classifier import Classifier
    from sotriage.runtime.torch_backend import TorchBackend
    from sotriage.runtime.torch_cuda_backend import TorchCudaBackend

    encoder, questions = encoder_and_questions(tiny_run, "validation", 32)
    encoded = encoder.encode(questions.questions)
    reference = Classifier(encoder, TorchBackend(tiny_run / "model", threads=1), ["open", "closed"]).logits_for_encoded(encoded)
    half = TorchCudaBackend(tiny_run / "model", dtype, f"torch-half-{dtype}", device="cpu")
    logits = Classifier(encoder, half, ["open", "closed"]).logits_for_encoded(encoded)
    assert logits.dtype == np.float32
    assert logits.shape == reference.shape
    assert np.abs(logits - reference).max() < 0.05


def test_torch_compile_mode_from_env(monkeypatch):
    from sotriage.runtime.torch_cuda_backend import compile_mode_from_env

    for value, expected in (("", None), ("0", None), ("1", "default"), ("max-autotune", "max-autotune")):
        monkeypatch.setenv("SOTRIAGE_TORCH_COMPILE", value)
        assert compile_mode_from_env() == expected
    monkeypatch.setenv("SOTRIAGE_TORCH_COMPILE", "fast")
    with pytest.raises(SotriageError, match="invalid SOTRIAGE_TORCH_COMPILE='fast'"):
        compile_mode_from_env()


@needs_no_cuda
def test_export_tensorrt_fails_before_export_without_cuda(tiny_run):
    from sotriage.cli.main import cli

    onnx_file = tiny_run / "onnx" / "model.onnx"
    before = onnx_file.stat().st_mtime_ns
    result = CliRunner().invoke(cli, ["export", str(tiny_run), "--tensorrt", "fp16", "--threads", "1"])
    assert result.exit_code == 1
    assert "backend 'tensorrt-fp16' cannot run here: no CUDA device" in result.output
    assert "Traceback" not in result.output
    assert onnx_file.stat().st_mtime_ns == before  # failed before re-exporting


# ---------------------------------------------------------------- the GPU check script's CPU side


def load_gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "scripts" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_gpu_check_dry_run_reports_backends(tiny_run, tmp_path, capsys):
    gpu_check = load_gpu_check()
    out, markdown = tmp_path / "check.json", tmp_path / "check.md"
    code = gpu_check.main(["--dry-run", "--model", str(tiny_run), "--examples", "40",
                           "--out", str(out), "--markdown", str(markdown)])
    assert code == 0
    result = json.loads(out.read_text())
    rows = {row["backend"]: row for row in result["results"]}
    assert set(rows) == set(gpu_check.ALL_BACKENDS)
    assert any("TensorRT profile" in note and "'max': [32, 64]" in note for note in result["notes"])
    if not torch.cuda.is_available():
        for name, row in rows.items():
            assert row["status"] == "not run", name
            if name != "onnx-cuda":
                assert "no CUDA device" in row["reason"], name
    printed = capsys.readouterr().out
    assert "| model | backend | status |" in printed
    assert "| model | backend | status |" in markdown.read_text()


@needs_no_cuda
def test_gpu_check_without_cuda_exits_cleanly(tiny_run, tmp_path, capsys):
    gpu_check = load_gpu_check()
    code = gpu_check.main(["--model", str(tiny_run), "--examples", "8", "--out", str(tmp_path / "check.json")])
    assert code == 1
    assert "no CUDA device" in capsys.readouterr().err
    assert (tmp_path / "check.json").is_file()


def test_gpu_check_measurements_on_cpu(tiny_run, tmp_path, monkeypatch, capsys):
    """The measurement path (reference, parity, both throughput settings, table) with CPU backends."""
    gpu_check = load_gpu_check()
    monkeypatch.setattr(gpu_check, "BERT_OVERRIDES", {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                                                      "intermediate_size": 64, "vocab_size": 200})
    out = tmp_path / "check.json"
    code = gpu_check.main(["--cpu-self-test", "--model", str(tiny_run), "--examples", "40", "--parity-examples", "24",
                           "--fixed-seq", "64", "--fixed-batches", "2", "--repeats", "1", "--batch-size", "8", "--out", str(out)])
    assert code == 0
    rows = json.loads(out.read_text())["results"]
    assert [(row["model"], row["backend"]) for row in rows] == [
        ("trained (tiny)", "torch"), ("trained (tiny)", "onnx"), ("BERT-base (random)", "torch"), ("BERT-base (random)", "onnx"),
    ]
    for row in rows:
        assert row["status"] == "ok", row
        assert row["real_mix_seq_per_s"] > 0
        assert row["fixed_seq_per_s"] > 0
    assert rows[1]["parity"]["max_abs_logit_diff"] < 1e-3  # FP32 ONNX against FP32 PyTorch
    assert rows[3]["parity"]["max_abs_logit_diff"] < 1e-3
    assert "accuracy_drop" in rows[1]["parity"]
    assert "accuracy_drop" not in rows[3]["parity"]  # random weights: accuracy means nothing
    assert "| trained (tiny) | onnx | ok |" in capsys.readouterr().out


def test_gpu_check_bert_base_with_tokenizer_only(tiny_run, tmp_path, monkeypatch):
    """Without a loadable trained model, --tokenizer still gives BERT-base the bundled sample's lengths."""
    gpu_check = load_gpu_check()
    monkeypatch.setattr(gpu_check, "BERT_OVERRIDES", {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                                                      "intermediate_size": 64, "vocab_size": 200})
    out = tmp_path / "check.json"
    code = gpu_check.main(["--cpu-self-test", "--model", str(tmp_path / "missing"), "--tokenizer", str(tiny_run / "model"),
                           "--examples", "24", "--parity-examples", "16", "--fixed-seq", "32", "--fixed-batches", "1",
                           "--repeats", "1", "--batch-size", "8", "--out", str(out)])
    result = json.loads(out.read_text())
    assert code == 0
    assert [row["model"] for row in result["results"]] == ["BERT-base (random)", "BERT-base (random)"]
    assert all(row["real_mix_seq_per_s"] for row in result["results"])
    assert any(note.startswith("trained classifier not checked") for note in result["notes"])
    assert any("questions from the bundled sample" in note for note in result["notes"])


def test_gpu_check_rejects_unknown_backend(capsys):
    gpu_check = load_gpu_check()
    with pytest.raises(SystemExit):
        gpu_check.parse_args(["--backends", "torch-cuda-fp16,tensorrt-fp8"])
    assert "unknown backend(s) tensorrt-fp8" in capsys.readouterr().err


# ---------------------------------------------------------------- on a CUDA device


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("name", ["torch-cuda-fp16", "torch-cuda-bf16"])
def test_torch_cuda_backend_parity(tiny_run, name):
    from sotriage.runtime.classifier import Classifier

    if name.endswith("bf16") and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    encoder, questions = encoder_and_questions(tiny_run, "validation", 64)
    encoded = encoder.encode(questions.questions)
    reference = Classifier.load(str(tiny_run), backend="torch", threads=1).logits_for_encoded(encoded)
    gpu = Classifier.load(str(tiny_run), backend=name).logits_for_encoded(encoded)
    report = parity_report(reference, gpu)
    assert report["max_abs_logit_diff"] < 0.05
    assert report["argmax_agreement"] >= 0.95


@pytest.mark.gpu
@needs_cuda
def test_onnx_cuda_backend_parity(tiny_run):
    from sotriage.runtime.classifier import Classifier
    from sotriage.runtime.gpu import onnxruntime_cuda_reason

    if onnxruntime_cuda_reason():
        pytest.skip(onnxruntime_cuda_reason())
    encoder, questions = encoder_and_questions(tiny_run, "validation", 64)
    encoded = encoder.encode(questions.questions)
    reference = Classifier.load(str(tiny_run), backend="onnx", threads=1).logits_for_encoded(encoded)
    gpu = Classifier.load(str(tiny_run), backend="onnx-cuda").logits_for_encoded(encoded)
    assert parity_report(reference, gpu)["max_abs_logit_diff"] < 1e-3


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_tensorrt_engine_build_and_parity(tiny_run, tmp_path, precision):
    pytest.importorskip("tensorrt")
    from sotriage.export.tensorrt_pipeline import TensorRTExportConfig, build_tensorrt_engines
    from sotriage.run_dir import RunDir
    from sotriage.runtime.base import create_backend
    from sotriage.runtime.model_ref import resolve_model

    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir, symlinks=True)  # engines are written beside the ONNX folder
    config = TensorRTExportConfig(precisions=(precision,), max_batch=16, parity_examples=32,
                                  int8_min_agreement=0.0, fp16_min_agreement=0.9, max_drop_points=None)
    config.qdq.calibration_examples = 32
    config.qdq.min_agreement = 0.0
    report = build_tensorrt_engines(resolve_model(run_dir), RunDir(run_dir), config)
    assert report["engines"][precision]["parity"]["argmax_agreement"] >= (0.9 if precision == "fp16" else 0.0)
    backend = create_backend(f"tensorrt-{precision}", resolve_model(run_dir).files)
    rng = np.random.default_rng(0)
    batch = {"input_ids": rng.integers(5, 90, (40, 20)), "attention_mask": np.ones((40, 20), np.int64),
             "token_type_ids": np.zeros((40, 20), np.int64)}
    assert backend(batch).shape == (40, 2)  # split into batches of at most 16
