"""Static INT8, the INT8 accuracy gate and their wiring into `sotriage export`, on the tiny run."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from sotriage.errors import SotriageError
from sotriage.export import sensitivity, static_quant
from sotriage.export.pipeline import ExportConfig, export_model
from sotriage.export.quantize import quantize_dynamic_int8
from sotriage.io import read_json
from sotriage.run_dir import RunDir
from sotriage.runtime.base import ModelFiles, create_backend
from sotriage.runtime.classifier import Classifier
from sotriage.runtime.model_ref import resolve_model


def op_counts(path: Path) -> Counter:
    return Counter(node.op_type for node in onnx.load(str(path)).graph.node)


@pytest.fixture()
def fused_copy(tiny_run, tmp_path) -> ModelFiles:
    """ModelFiles whose onnx_dir is a fresh folder holding only the tiny run's fused FP32 graph."""
    run = RunDir(tiny_run)
    onnx_dir = tmp_path / "onnx"
    onnx_dir.mkdir()
    shutil.copy(run.onnx_fused, onnx_dir / "model-fused.onnx")
    return ModelFiles(run.model, onnx_dir)


@pytest.fixture(scope="module")
def encoder(tiny_run):
    classifier = Classifier.load(str(tiny_run), backend="onnx", threads=1)
    yield classifier.encoder
    classifier.close()


@pytest.fixture(scope="module")
def validation(tiny_run, encoder):
    questions = static_quant.run_split(RunDir(tiny_run), "validation")
    config = sensitivity.GateConfig(threads=1)
    return sensitivity.ValidationSet(questions, encoder, RunDir(tiny_run).onnx_fused, config)


def run_dynamic_gate(files: ModelFiles, validation, config: sensitivity.GateConfig) -> dict:
    def quantize(out, excluded):
        return sensitivity.quantize_dynamic_excluding(files.onnx_fp32, out, True, excluded)

    return sensitivity.run_gate("onnx-int8", quantize, files.onnx_fp32, files.onnx_int8, validation, config,
                                sensitivity.dynamic_op_types())


# --- static INT8 ----------------------------------------------------------------------------

def test_static_int8_is_quantized_and_runs(tiny_run, fused_copy, encoder):
    static = static_quant.StaticQuantConfig(calibration_questions=48)
    report = sensitivity.build_int8_files(fused_copy, encoder, RunDir(tiny_run), per_channel=True, static=static, gate=None)

    path = fused_copy.onnx_int8_static
    assert path.is_file()
    counts = op_counts(path)
    fp32_counts = op_counts(fused_copy.onnx_fp32)
    # QDQ format: every MatMul gets its activation quantized (QuantizeLinear) and its weight dequantized.
    assert counts["QuantizeLinear"] >= fp32_counts["MatMul"]
    assert counts["DequantizeLinear"] >= 2 * fp32_counts["MatMul"]
    # The static quantizer skips fused Attention; the dynamic pass turns each into QAttention.
    assert counts["QAttention"] == fp32_counts["Attention"]
    assert counts["Attention"] == 0

    resolved = resolve_model(str(tiny_run))
    backend = create_backend("onnx-int8-static", fused_copy, threads=1)
    classifier = Classifier(encoder, backend, resolved.label_names)
    questions = static_quant.run_split(RunDir(tiny_run), "validation")
    logits = classifier.logits(questions.questions)
    reference = Classifier(encoder, create_backend("onnx", fused_copy, threads=1), resolved.label_names).logits(questions.questions)
    assert logits.shape == reference.shape
    assert np.isfinite(logits).all()
    assert (logits.argmax(1) == reference.argmax(1)).mean() >= 0.9
    assert not np.array_equal(logits, reference)  # quantization really changed the computation

    entry = report["files"]["onnx-int8-static"]
    assert entry["method"] == "static"
    assert entry["calibration"]["split"] == "train"
    assert entry["calibration"]["questions"] == 48
    assert entry["settings"]["quant_format"] == "qdq"
    assert entry["quantized_operators"]["QAttention"] == fp32_counts["Attention"]
    assert report["gate"] == {"enabled": False, "reason": "disabled with --no-int8-gate"}
    assert read_json(fused_copy.onnx_dir / "quantization.json") == json.loads(json.dumps(report))


def test_static_int8_qoperator_format(tiny_run, fused_copy, encoder, tmp_path):
    config = static_quant.StaticQuantConfig(calibration_questions=32, quant_format="qoperator", quantize_attention=False)
    typed, cache, calibration = static_quant.prepare_static_int8(fused_copy.onnx_fp32, encoder, RunDir(tiny_run), config, tmp_path)
    out = static_quant.quantize_static_int8(typed, tmp_path / "qop.onnx", cache, config)

    counts = op_counts(out)
    assert counts["QLinearMatMul"] == op_counts(fused_copy.onnx_fp32)["MatMul"]
    assert counts["Attention"] == op_counts(fused_copy.onnx_fp32)["Attention"]  # left FP32 without the dynamic pass
    assert calibration["questions"] == 32


def test_static_int8_reuses_calibration_cache(tiny_run, fused_copy, encoder, tmp_path):
    config = static_quant.StaticQuantConfig(calibration_questions=32, calibration_method="percentile")
    typed, cache, _ = static_quant.prepare_static_int8(fused_copy.onnx_fp32, encoder, RunDir(tiny_run), config, tmp_path)
    ranges = json.loads(cache.read_text())
    # Ranges of intermediate tensors, not only of the logits: shape inference typed the fused graph.
    assert len(ranges["data"]) > 5
    first = static_quant.quantize_static_int8(typed, tmp_path / "a.onnx", cache, config)
    second = static_quant.quantize_static_int8(typed, tmp_path / "b.onnx", cache, config)
    assert first.read_bytes() == second.read_bytes()


def test_padded_batches_are_length_sorted(encoder, tiny_run):
    questions = static_quant.run_split(RunDir(tiny_run), "train").head(40)
    encoded = encoder.encode(questions.questions)
    batches = static_quant.padded_batches(encoded, encoder.pad_id, 16, ["input_ids", "attention_mask"])
    assert [len(batch["input_ids"]) for batch in batches] == [16, 16, 8]
    assert all(set(batch) == {"input_ids", "attention_mask"} for batch in batches)
    widths = [batch["input_ids"].shape[1] for batch in batches]
    assert widths == sorted(widths, reverse=True)
    assert widths[0] == max(len(item) for item in encoded)


def test_calibration_without_dataset_raises():
    with pytest.raises(SotriageError, match="training questions for calibration"):
        static_quant.calibration_questions(None, 16)


@pytest.mark.parametrize("field, value, option", [
    ("quant_format", "qint4", "quant_format"),
    ("calibration_method", "kl", "--static-calibration-method"),
    ("calibration_questions", 0, "--static-calibration-questions"),
    ("activation_type", "fp8", "activation_type"),
])
def test_static_config_rejects_invalid_values(field, value, option):
    with pytest.raises(SotriageError, match=option):
        static_quant.StaticQuantConfig(**{field: value})


# --- node groups and the gate ---------------------------------------------------------------

def test_node_groups_follow_encoder_layers(fused_copy, tmp_path):
    quantized = quantize_dynamic_int8(fused_copy.onnx_fp32, tmp_path / "int8.onnx")
    names = sensitivity.quantized_nodes(fused_copy.onnx_fp32, quantized, sensitivity.dynamic_op_types())
    groups = {group.name: group.nodes for group in sensitivity.node_groups(fused_copy.onnx_fp32, names)}

    expected = {f"layer.{layer}.{part}" for layer in (0, 1) for part in ("attention", "ffn.intermediate", "ffn.output")}
    assert set(groups) == expected | {"embeddings", "head"}
    graph = {node.name: node for node in onnx.load(str(fused_copy.onnx_fp32)).graph.node}
    for layer in (0, 1):
        attention_ops = sorted(graph[name].op_type for name in groups[f"layer.{layer}.attention"])
        assert attention_ops == ["Attention", "MatMul"]  # the fused Q/K/V attention and its output projection
        assert groups[f"layer.{layer}.ffn.intermediate"] == [f"/model/bert/encoder/layer.{layer}/intermediate/dense/MatMul"]
        assert groups[f"layer.{layer}.ffn.output"] == [f"/model/bert/encoder/layer.{layer}/output/dense/MatMul"]
    assert sorted(graph[name].op_type for name in groups["head"]) == ["Gemm", "Gemm"]  # pooler and classifier
    assert sum(len(nodes) for nodes in groups.values()) == len(names)


def test_validation_subset_reuses_fp32_logits(validation, tiny_run):
    part = validation.subset(10)
    assert part.size == 10
    assert part.labels.shape == (10,)
    # The cached FP32 logits of the subset equal a fresh FP32 run on its questions.
    np.testing.assert_allclose(part.logits(RunDir(tiny_run).onnx_fused), part.fp32_logits, atol=1e-5)
    assert validation.subset(validation.size) is validation


def test_gate_passes_without_exclusions(fused_copy, validation):
    record = run_dynamic_gate(fused_copy, validation, sensitivity.GateConfig(max_drop=100, threads=1))

    assert record["passed"] is True
    assert record["excluded"] == []
    assert record["sensitivity"] == []  # nothing measured when the full INT8 graph passes
    assert record["final"] == record["full"]
    assert fused_copy.onnx_int8.is_file()
    assert record["full"]["mean_abs_logit_diff"] > 0


def test_gate_excludes_groups_when_forced(fused_copy, validation):
    measured = run_dynamic_gate(fused_copy, validation, sensitivity.GateConfig(max_drop=100, always_measure=True, threads=1))
    ranked = sorted(filter(sensitivity.is_sensitive, measured["sensitivity"]), key=sensitivity.ranking_key)
    assert ranked, f"no node group of the tiny model is sensitive: {measured['sensitivity']}"
    # A logit-error target that only keeping the most sensitive group in FP32 reaches.
    target = ranked[0]["without_group"]["mean_abs_logit_diff"]
    assert target < measured["full"]["mean_abs_logit_diff"]

    record = run_dynamic_gate(fused_copy, validation, sensitivity.GateConfig(max_drop=100, max_logit_error=target, threads=1))

    assert record["passed"] is True
    assert [entry["group"] for entry in record["excluded"]] == [ranked[0]["group"]]
    assert record["excluded"][0]["nodes"] == ranked[0]["nodes"]
    assert "cut the mean |logit difference|" in record["excluded"][0]["reason"]
    assert record["final"]["mean_abs_logit_diff"] == pytest.approx(target)
    assert record["steps"] == [{"excluded_groups": [ranked[0]["group"]], **record["final"]}]
    # The excluded nodes are FP32 operators with their original names in the written file.
    written = {node.name: node.op_type for node in onnx.load(str(fused_copy.onnx_int8)).graph.node}
    original = {node.name: node.op_type for node in onnx.load(str(fused_copy.onnx_fp32)).graph.node}
    for name in record["excluded"][0]["nodes"]:
        assert written.get(name) == original[name] or written.get(f"{name}_MatMul") == "MatMul"


def test_gate_error_when_target_unreachable(fused_copy, validation):
    config = sensitivity.GateConfig(max_drop=-1, threads=1)
    with pytest.raises(sensitivity.GateError) as raised:
        run_dynamic_gate(fused_copy, validation, config)

    message = str(raised.value)
    assert "onnx-int8" in message
    assert "points more than the allowed -1.00" in message
    assert "Nothing was written" in message
    assert "--int8-max-drop" in message
    record = raised.value.record
    assert len(record["sensitivity"]) == len(record["quantized_groups"])
    sensitive = [entry["group"] for entry in record["sensitivity"] if sensitivity.is_sensitive(entry)]
    assert sensitive, "the tiny model should have at least one sensitive node group"
    assert sorted(entry["group"] for entry in record["excluded"]) == sorted(sensitive)
    assert not fused_copy.onnx_int8.exists()


def test_gate_skipped_without_validation_data(fused_copy, encoder):
    report = sensitivity.build_int8_files(fused_copy, encoder, None, per_channel=True, static=None,
                                          gate=sensitivity.GateConfig(threads=1))
    assert report["gate"]["enabled"] is False
    assert "no validation questions" in report["gate"]["reason"]
    assert "gate" not in report["files"]["onnx-int8"]
    assert fused_copy.onnx_int8.is_file()


def test_gate_config_rejects_invalid_values():
    with pytest.raises(SotriageError, match="--gate-questions"):
        sensitivity.GateConfig(validation_questions=0)
    with pytest.raises(SotriageError, match="--int8-max-drop"):
        sensitivity.GateConfig(max_drop=250)


# --- sotriage export ------------------------------------------------------------------------

@pytest.fixture()
def run_copy(tiny_run, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(tiny_run, copy)
    return copy


def test_export_gate_failure_writes_nothing(run_copy):
    run = RunDir(run_copy)
    before = {path.name: path.stat().st_mtime_ns for path in run.onnx_dir.iterdir()}
    config = ExportConfig(parity_examples=16, threads=1, int8_min_agreement=0.0, int8_max_drop=-1, openvino=False)

    with pytest.raises(sensitivity.GateError, match="Nothing was written"):
        export_model(run.model, run.onnx_dir, run, config)

    after = {path.name: path.stat().st_mtime_ns for path in run.onnx_dir.iterdir()}
    assert after == before
    assert sorted(path.name for path in run.root.iterdir() if path.name.startswith(".")) == []


def test_export_cli_static_int8(run_copy):
    from sotriage.cli.main import cli

    result = CliRunner().invoke(cli, [
        "export", str(run_copy), "--static-int8", "--static-calibration-questions", "32",
        "--parity-examples", "16", "--int8-min-agreement", "0", "--threads", "1",
    ])
    assert result.exit_code == 0, result.output
    assert "onnx-int8-static" in result.output
    assert "INT8 gate onnx-int8-static" in result.output
    assert "node groups left in FP32: none" in result.output

    run = RunDir(run_copy)
    report = read_json(run.export_report)
    assert {"onnx-int8", "onnx-int8-static"} <= set(report["files"])
    assert set(report["int8_gate"]) == {"onnx-int8", "onnx-int8-static"}
    quantization = read_json(run.onnx_dir / "quantization.json")
    assert quantization["gate"]["enabled"] is True
    assert quantization["gate"]["max_drop"] == 0.3
    assert quantization["gate"]["questions"] == len(static_quant.run_split(run, "validation"))
    for name in ("onnx-int8", "onnx-int8-static"):
        gate = quantization["files"][name]["gate"]
        assert gate["passed"] is True
        assert gate["final"]["accuracy_drop_points"] <= 0.3
        assert set(gate["full"]) >= {"accuracy", "accuracy_drop_points", "argmax_agreement", "mean_abs_logit_diff"}
    assert quantization["files"]["onnx-int8-static"]["calibration"]["questions"] == 32


def test_export_cli_without_gate(run_copy):
    from sotriage.cli.main import cli

    result = CliRunner().invoke(cli, ["export", str(run_copy), "--no-int8-gate", "--parity-examples", "8",
                                      "--int8-min-agreement", "0", "--threads", "1"])
    assert result.exit_code == 0, result.output
    quantization = read_json(RunDir(run_copy).onnx_dir / "quantization.json")
    assert quantization["gate"]["enabled"] is False
    assert "gate" not in quantization["files"]["onnx-int8"]
    assert "onnx-int8-static" not in quantization["files"]
