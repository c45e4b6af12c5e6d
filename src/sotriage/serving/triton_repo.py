"""Write a Triton model repository for a standalone fleet (the official tritonserver container).

    DIR/NAME/                  ensemble: title, body, tags -> label, probabilities, label_names
    DIR/NAME_tokenizer/        Python backend: tokenizers + the model's tokenizer.json and sotriage.json
    DIR/NAME_onnx/             ONNX Runtime backend: model-int8.onnx (default) or model-fused.onnx
    DIR/NAME_postprocess/      Python backend: softmax, argmax, label names
    DIR/README.md              how to run and scale it

Every config.pbtxt is built as a `inference.ModelConfig` protobuf (the schema tritonclient ships)
and printed with protobuf's text format, so the files always parse. The ONNX model's config takes
its names, types and dims from the ONNX graph itself, without the batch dimension: Triton adds
that dimension from `max_batch_size`, and a `dims` that includes it disables batching.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..encoding import INPUT_NAMES
from ..errors import InputError, MissingArtifactError, missing_extra
from ..io import atomic_dir
from ..modeling import SOTRIAGE_CONFIG, load_tokenizer
from ..runtime.model_ref import ResolvedModel
from .protocol import DEFAULT_MAX_BODY_BYTES, DEFAULT_MODEL_NAME, TEXT_INPUTS, check_model_name

log = logging.getLogger(__name__)

PRECISIONS = ("int8", "fp32")
KINDS = ("cpu", "gpu")
# ONNX TensorProto element types -> Triton data types.
_ONNX_TO_TRITON = {1: "TYPE_FP32", 6: "TYPE_INT32", 7: "TYPE_INT64", 10: "TYPE_FP16", 16: "TYPE_BF16"}


@dataclass
class TritonRepoConfig:
    precision: str = "int8"
    instances: int = 1
    kind: str = "cpu"
    max_batch_size: int = 32
    max_queue_delay_us: int = 2000
    pad_to_multiple: int = 64
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    model_name: str = DEFAULT_MODEL_NAME

    def __post_init__(self) -> None:
        check_model_name(self.model_name)
        if self.precision not in PRECISIONS:
            raise InputError(f"invalid precision {self.precision!r}: use one of {', '.join(PRECISIONS)}")
        if self.kind not in KINDS:
            raise InputError(f"invalid instance kind {self.kind!r}: use one of {', '.join(KINDS)}")
        if self.kind == "gpu" and self.precision == "int8":
            raise InputError("dynamic INT8 ONNX runs on CPU kernels only (no CUDA kernels for its quantized ops): "
                             "use --triton-precision fp32 with --triton-kind gpu")
        if not 1 <= self.instances <= 64:
            raise InputError(f"invalid instances {self.instances}: use 1 to 64 model instances")
        if not 1 <= self.max_batch_size <= 1024:
            raise InputError(f"invalid max_batch_size {self.max_batch_size}: use 1 to 1024")
        if not 0 <= self.max_queue_delay_us <= 10_000_000:
            raise InputError(f"invalid max_queue_delay_us {self.max_queue_delay_us}: use 0 to 10000000 microseconds")
        if self.pad_to_multiple < 1:
            raise InputError(f"invalid pad_to_multiple {self.pad_to_multiple}: use 1 (no rounding) or more tokens")
        if self.max_body_bytes < 1:
            raise InputError(f"invalid max_body_bytes {self.max_body_bytes}: use a positive number of bytes")

    def model_names(self) -> dict[str, str]:
        return {"ensemble": self.model_name, "tokenizer": f"{self.model_name}_tokenizer",
                "onnx": f"{self.model_name}_onnx", "postprocess": f"{self.model_name}_postprocess"}


def model_config_proto():
    """Return tritonclient's generated `model_config_pb2` module (Triton's ModelConfig schema)."""
    try:
        from tritonclient.grpc import model_config_pb2
    except ImportError:
        raise missing_extra("tritonclient", "serve") from None
    return model_config_pb2


def onnx_signature(path: Path) -> dict[str, dict[str, tuple[int, list]]]:
    """Return {"inputs"|"outputs": {name: (onnx elem type, dims incl. batch)}}; a dim is an int or a name."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {item.name for item in graph.initializer}

    def describe(values):
        return {
            value.name: (value.type.tensor_type.elem_type,
                         [dim.dim_param or dim.dim_value for dim in value.type.tensor_type.shape.dim])
            for value in values if value.name not in initializers
        }

    return {"inputs": describe(graph.input), "outputs": describe(graph.output)}


def _tensor_specs(signature: dict[str, tuple[int, list]], path: Path) -> list[tuple[str, str, list[int]]]:
    """Return (name, Triton data type, dims without the batch dimension) per tensor."""
    specs = []
    for name, (elem_type, dims) in signature.items():
        if elem_type not in _ONNX_TO_TRITON:
            raise InputError(f"{path}: tensor {name!r} has ONNX element type {elem_type}, which this export does not map to a Triton type")
        if not dims or (isinstance(dims[0], int) and dims[0] > 0):
            raise InputError(f"{path}: tensor {name!r} has no dynamic batch dimension (dims {dims}); re-export with sotriage export")
        # Triton dims exclude the batch dimension; a named (dynamic) dim becomes -1.
        triton_dims = [dim if isinstance(dim, int) and dim > 0 else -1 for dim in dims[1:]]
        specs.append((name, _ONNX_TO_TRITON[elem_type], triton_dims))
    return specs


def _instance_group(pb, kind: str, count: int):
    return pb.ModelInstanceGroup(kind=pb.ModelInstanceGroup.KIND_GPU if kind == "gpu" else pb.ModelInstanceGroup.KIND_CPU,
                                 count=count)


def _parameters(config, values: dict[str, object]) -> None:
    for key, value in values.items():
        config.parameters[key].string_value = str(value)


def onnx_model_config(pb, name: str, signature: dict, path: Path, config: TritonRepoConfig):
    model = pb.ModelConfig(name=name, platform="onnxruntime_onnx", backend="onnxruntime", max_batch_size=config.max_batch_size)
    for tensor_name, data_type, dims in _tensor_specs(signature["inputs"], path):
        model.input.add(name=tensor_name, data_type=getattr(pb, data_type), dims=dims)
    for tensor_name, data_type, dims in _tensor_specs(signature["outputs"], path):
        model.output.add(name=tensor_name, data_type=getattr(pb, data_type), dims=dims)
    model.dynamic_batching.max_queue_delay_microseconds = config.max_queue_delay_us
    model.instance_group.append(_instance_group(pb, config.kind, config.instances))
    return model


def tokenizer_model_config(pb, name: str, special_ids: dict[str, int], config: TritonRepoConfig):
    model = pb.ModelConfig(name=name, backend="python", max_batch_size=config.max_batch_size)
    for tensor_name in TEXT_INPUTS:
        model.input.add(name=tensor_name, data_type=pb.TYPE_STRING, dims=[1])
    for tensor_name in INPUT_NAMES:
        model.output.add(name=tensor_name, data_type=pb.TYPE_INT64, dims=[-1])
    model.dynamic_batching.max_queue_delay_microseconds = config.max_queue_delay_us
    model.instance_group.append(_instance_group(pb, "cpu", config.instances))
    _parameters(model, {**special_ids, "pad_to_multiple": config.pad_to_multiple, "max_body_bytes": config.max_body_bytes})
    return model


def postprocess_model_config(pb, name: str, label_names: list[str], config: TritonRepoConfig):
    model = pb.ModelConfig(name=name, backend="python", max_batch_size=config.max_batch_size)
    num_labels = len(label_names)
    model.input.add(name="logits", data_type=pb.TYPE_FP32, dims=[num_labels])
    model.output.add(name="label", data_type=pb.TYPE_STRING, dims=[1])
    model.output.add(name="probabilities", data_type=pb.TYPE_FP32, dims=[num_labels])
    model.output.add(name="label_names", data_type=pb.TYPE_STRING, dims=[num_labels])
    model.dynamic_batching.max_queue_delay_microseconds = config.max_queue_delay_us
    model.instance_group.append(_instance_group(pb, "cpu", config.instances))
    _parameters(model, {"label_names": json.dumps(label_names)})
    return model


def ensemble_model_config(pb, names: dict[str, str], label_names: list[str], config: TritonRepoConfig):
    """Chain tokenizer -> ONNX -> postprocess; intermediate tensors get private names."""
    model = pb.ModelConfig(name=names["ensemble"], platform="ensemble", max_batch_size=config.max_batch_size)
    num_labels = len(label_names)
    for tensor_name in TEXT_INPUTS:
        model.input.add(name=tensor_name, data_type=pb.TYPE_STRING, dims=[1])
    model.output.add(name="label", data_type=pb.TYPE_STRING, dims=[1])
    model.output.add(name="probabilities", data_type=pb.TYPE_FP32, dims=[num_labels])
    model.output.add(name="label_names", data_type=pb.TYPE_STRING, dims=[num_labels])

    steps = model.ensemble_scheduling.step
    tokenize = steps.add(model_name=names["tokenizer"], model_version=-1)
    for tensor_name in TEXT_INPUTS:
        tokenize.input_map[tensor_name] = tensor_name
    for tensor_name in INPUT_NAMES:
        tokenize.output_map[tensor_name] = f"_{tensor_name}"
    classify = steps.add(model_name=names["onnx"], model_version=-1)
    for tensor_name in INPUT_NAMES:
        classify.input_map[tensor_name] = f"_{tensor_name}"
    classify.output_map["logits"] = "_logits"
    postprocess = steps.add(model_name=names["postprocess"], model_version=-1)
    postprocess.input_map["logits"] = "_logits"
    for tensor_name in ("label", "probabilities", "label_names"):
        postprocess.output_map[tensor_name] = tensor_name
    return model


def _write_config(folder: Path, model) -> None:
    from google.protobuf import text_format

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.pbtxt").write_text(text_format.MessageToString(model), encoding="utf-8")


def _copy_module(module: str, destination: Path) -> None:
    source = resources.files("sotriage").joinpath(*module.split("/"))
    destination.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")


def _special_ids(model_dir: Path) -> dict[str, int]:
    tokenizer = load_tokenizer(str(model_dir))
    if tokenizer.cls_token_id is None or tokenizer.sep_token_id is None:
        raise InputError(f"{model_dir}: the tokenizer has no [CLS]/[SEP] tokens; the Triton tokenizer model needs a BERT-family tokenizer")
    return {"cls_id": tokenizer.cls_token_id, "sep_id": tokenizer.sep_token_id, "pad_id": tokenizer.pad_token_id or 0}


def write_triton_repo(resolved: ResolvedModel, out: str | Path, config: TritonRepoConfig | None = None) -> Path:
    """Write the repository to `out` atomically (an existing repository is replaced whole)."""
    config = config or TritonRepoConfig()
    pb = model_config_proto()
    files = resolved.files
    onnx_path = files.onnx_int8 if config.precision == "int8" else files.onnx_fp32
    if not onnx_path.is_file():
        raise MissingArtifactError(f"{onnx_path} not found. Create it with: sotriage export {resolved.run_dir or files.model_dir}")
    tokenizer_json = files.model_dir / "tokenizer.json"
    if not tokenizer_json.is_file():
        raise MissingArtifactError(f"{tokenizer_json} not found: the Triton tokenizer model needs a fast (tokenizers) tokenizer file")
    signature = onnx_signature(onnx_path)
    expected = set(INPUT_NAMES)
    if set(signature["inputs"]) != expected or "logits" not in signature["outputs"]:
        raise InputError(f"{onnx_path}: inputs {sorted(signature['inputs'])} and outputs {sorted(signature['outputs'])}; "
                         f"expected inputs {sorted(expected)} and output logits. Re-export with: sotriage export")

    names = config.model_names()
    label_names = list(resolved.label_names)
    out = Path(out)
    with atomic_dir(out) as tmp:
        tokenizer_dir = tmp / names["tokenizer"]
        _write_config(tokenizer_dir, tokenizer_model_config(pb, names["tokenizer"], _special_ids(files.model_dir), config))
        version = tokenizer_dir / "1"
        version.mkdir()
        _copy_module("serving/triton_models/tokenizer_model.py", version / "model.py")
        _copy_module("data/text.py", version / "sotriage_text.py")
        shutil.copy2(tokenizer_json, version / "tokenizer.json")
        shutil.copy2(files.model_dir / SOTRIAGE_CONFIG, version / SOTRIAGE_CONFIG)

        onnx_dir = tmp / names["onnx"]
        _write_config(onnx_dir, onnx_model_config(pb, names["onnx"], signature, onnx_path, config))
        (onnx_dir / "1").mkdir()
        shutil.copy2(onnx_path, onnx_dir / "1" / "model.onnx")

        postprocess_dir = tmp / names["postprocess"]
        _write_config(postprocess_dir, postprocess_model_config(pb, names["postprocess"], label_names, config))
        (postprocess_dir / "1").mkdir()
        _copy_module("serving/triton_models/postprocess_model.py", postprocess_dir / "1" / "model.py")

        ensemble_dir = tmp / names["ensemble"]
        _write_config(ensemble_dir, ensemble_model_config(pb, names, label_names, config))
        (ensemble_dir / "1").mkdir()  # Triton requires a (here empty) version folder for an ensemble

        (tmp / "README.md").write_text(repository_readme(names, onnx_path.name, config, label_names), encoding="utf-8")
    log.info("wrote Triton model repository %s (%s, %d %s instance(s))", out, onnx_path.name, config.instances, config.kind)
    return out


def repository_readme(names: dict[str, str], onnx_file: str, config: TritonRepoConfig, label_names: list[str]) -> str:
    return f"""# Triton model repository for sotriage

Written by `sotriage export --triton-repo`. Clients call the ensemble `{names['ensemble']}`
(KServe v2, HTTP or gRPC): inputs `title`, `body` (Stack Overflow Markdown), `tags` (space-separated),
each BYTES with shape [n, 1]; outputs `label` (BYTES [n, 1]), `probabilities` (FP32 [n, {len(label_names)}])
and `label_names` (BYTES [n, {len(label_names)}]). Labels: {', '.join(label_names)}.

| model | backend | what it does |
| --- | --- | --- |
| `{names['tokenizer']}` | python | cleans the body, tokenizes with `tokenizer.json`, truncates as `sotriage.json` says, pads to a multiple of {config.pad_to_multiple} tokens |
| `{names['onnx']}` | onnxruntime | `{onnx_file}` ({config.precision.upper()}), {config.instances} {config.kind.upper()} instance(s), dynamic batching up to {config.max_batch_size} |
| `{names['postprocess']}` | python | softmax, argmax, label names |
| `{names['ensemble']}` | ensemble | the three steps above |

The Python models need `numpy` and `tokenizers` in the container. Triton's Python backend itself
imports numpy, so an image with that backend has it; install tokenizers (`pip install tokenizers`)
at start, as below, or build an image that has it.

Run: `docker run --rm -p 8000:8000 -p 8001:8001 -p 8002:8002 -v $PWD:/models
nvcr.io/nvidia/tritonserver:<tag>-py3 sh -c "pip install tokenizers && tritonserver --model-repository=/models"`

GPU: export with `--triton-kind gpu --triton-precision fp32` for ONNX Runtime on CUDA. For TensorRT,
build an engine from the FP32 ONNX file on the target GPU (`trtexec --onnx=model.onnx
--saveEngine=model.plan` with min/opt/max shapes for the three inputs), put it at
`{names['onnx']}/1/model.plan`, and set `platform: "tensorrt_plan"` and `backend: "tensorrt"` in its
config.pbtxt; the input and output names stay the same. A plan only runs on the GPU model and
TensorRT version that built it.
"""
