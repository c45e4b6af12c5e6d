"""TensorRT engines (FP16, INT8 with explicit Q/DQ) built from the exported ONNX model.

Two build modes, chosen by the installed TensorRT:
  * weakly typed (TensorRT 10.x): the FP16 (and INT8) builder flags let TensorRT pick reduced
    precision per layer. LayerNorm and Softmax layers are pinned to FP32 with layer precisions and
    OBEY_PRECISION_CONSTRAINTS, because FP16 overflows there (variance of large activations,
    exponentials of unnormalized scores).
  * strongly typed (TensorRT 11, which removed the precision flags): the ONNX graph itself is
    converted to FP16 with the same nodes kept in FP32, and the engine follows the graph's types.

INT8 uses explicit quantization: the Q/DQ model from `qdq.quantize_qdq` marks which tensors are
INT8, and TensorRT fuses the rest. Optimization profiles come from the data's token lengths
(`profile_shapes`), not a fixed 512.

NOTE: no engine has been built on a GPU in this repository yet. CPU tests (tests/test_gpu_path.py)
cover everything up to the TensorRT calls, and the calls follow the TensorRT 10/11 Python API
documentation. Run scripts/gpu_check.py on a GPU machine with TensorRT to check them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import SotriageError

log = logging.getLogger(__name__)

FP32_KINDS = ("layernorm", "softmax")
# ONNX op types and TensorRT LayerType names (str(layer.type) without the "LayerType." prefix).
_KIND_TYPES = {
    "layernorm": {"LayerNormalization", "NORMALIZATION"},
    "softmax": {"Softmax", "SOFTMAX"},
}
# A LayerNorm decomposed into ReduceMean/Sub/Pow/Sqrt/Div (ONNX opset < 17) keeps the module path
# in its node names, e.g. "/model/bert/encoder/layer.0/output/LayerNorm/ReduceMean".
_KIND_NAMES = {
    "layernorm": re.compile(r"layer_?norm", re.IGNORECASE),
    "softmax": re.compile(r"softmax", re.IGNORECASE),
}


@dataclass(frozen=True)
class ProfileShapes:
    """One TensorRT optimization profile for (batch, sequence) inputs."""

    min: tuple[int, int]
    opt: tuple[int, int]
    max: tuple[int, int]

    def to_dict(self) -> dict:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}


def profile_shapes(lengths: Sequence[int], max_length: int, max_batch: int, opt_batch: int | None = None,
                   opt_percentile: float = 75.0, multiple: int = 8) -> ProfileShapes:
    """Choose the profile from the token lengths the model will see.

    TensorRT picks its kernels for the `opt` shape and accepts anything from `min` to `max`.
    Length-sorted batches are padded to their longest member, so the typical padded length is an
    upper percentile of the lengths: `opt` uses the `opt_percentile` (p75 by default), rounded up
    to a multiple of 8 for tensor-core tiles. `max` is the encoder's max_length, so no question is
    rejected, and `min` is (1, 1). `opt_batch` defaults to `max_batch`, the batch size of bulk runs.
    """
    lengths = np.asarray(lengths)
    if lengths.size == 0:
        raise SotriageError("no token lengths to choose the TensorRT profile from: pass at least one encoded question")
    if np.any(lengths < 1):
        raise SotriageError(f"invalid token length {int(lengths.min())}: every encoded question has at least 1 token")
    if max_length < 1:
        raise SotriageError(f"invalid max_length {max_length}: use the encoder's max_length, e.g. 256")
    if max_batch < 1:
        raise SotriageError(f"invalid --trt-max-batch {max_batch}: use 1 or more")
    opt_batch = max_batch if opt_batch is None else opt_batch
    if not 1 <= opt_batch <= max_batch:
        raise SotriageError(f"invalid optimal batch {opt_batch}: use 1 to the max batch ({max_batch})")
    if not 0 < opt_percentile <= 100:
        raise SotriageError(f"invalid profile percentile {opt_percentile}: use a value in (0, 100]")

    typical = float(np.percentile(np.minimum(lengths, max_length), opt_percentile))
    opt_length = int(np.ceil(typical / multiple) * multiple)
    opt_length = min(max(opt_length, 1), max_length)
    return ProfileShapes(min=(1, 1), opt=(opt_batch, opt_length), max=(max_batch, max_length))


def fp32_layer_names(layers: Iterable[tuple[str, str]], kinds: Sequence[str] = FP32_KINDS) -> list[str]:
    """Return the names of the layers to keep in FP32, from (name, type) pairs.

    `type` is an ONNX op type ("LayerNormalization") or a TensorRT LayerType name ("NORMALIZATION").
    A layer is kept when its type is one of `kinds`, or when its name lies in a LayerNorm/Softmax
    module scope (the pieces of a decomposed LayerNorm).
    """
    unknown = [kind for kind in kinds if kind not in _KIND_TYPES]
    if unknown:
        raise SotriageError(f"unknown FP32 layer kind(s) {', '.join(unknown)}: use any of {', '.join(FP32_KINDS)}")
    selected = []
    for name, layer_type in layers:
        for kind in kinds:
            if layer_type in _KIND_TYPES[kind] or _KIND_NAMES[kind].search(name or ""):
                selected.append(name)
                break
    return selected


def onnx_float_nodes(model) -> list[tuple[str, str]]:
    """Return (name, op type) of the ONNX nodes that compute in float (the ones FP16 can affect)."""
    import onnx

    value_types = {info.name: info.type.tensor_type.elem_type
                   for info in [*model.graph.value_info, *model.graph.input, *model.graph.output]}
    value_types.update({init.name: init.data_type for init in model.graph.initializer})
    float_types = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16}
    nodes = []
    for node in model.graph.node:
        output_types = [value_types.get(name) for name in node.output]
        # Without shape information for an output, keep the node as a candidate.
        if any(kind is None or kind in float_types for kind in output_types):
            nodes.append((node.name, node.op_type))
    return nodes


def tensorrt_network_layers(network) -> list[tuple[str, str]]:
    """Return (name, LayerType name) of every layer of a parsed TensorRT network."""
    layers = []
    for index in range(network.num_layers):
        layer = network.get_layer(index)
        layers.append((layer.name, str(layer.type).split(".")[-1]))
    return layers


def apply_fp32_constraints(network, names: Iterable[str], trt) -> int:
    """Pin the named layers' compute and float outputs to FP32; return how many layers were pinned.

    Layers with non-float outputs (shape arithmetic) are skipped: forcing FP32 there is invalid.
    """
    names = set(names)
    float_types = {trt.DataType.FLOAT, trt.DataType.HALF}
    pinned = 0
    for index in range(network.num_layers):
        layer = network.get_layer(index)
        if layer.name not in names:
            continue
        outputs = [layer.get_output(i) for i in range(layer.num_outputs)]
        if not outputs or any(tensor.dtype not in float_types for tensor in outputs):
            continue
        layer.precision = trt.DataType.FLOAT
        for i in range(layer.num_outputs):
            layer.set_output_type(i, trt.DataType.FLOAT)
        pinned += 1
    return pinned


def convert_onnx_to_fp16(onnx_path: str | Path, out_path: str | Path, kinds: Sequence[str] = FP32_KINDS) -> dict:
    """Write an FP16 copy of the graph whose LayerNorm/Softmax nodes stay FP32 (for strong typing).

    Inputs (token ids) and the logits output keep their types; Cast nodes are inserted around the
    FP32 nodes. Returns how many nodes stayed in FP32.
    """
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    from ..io import atomic_path

    model = onnx.shape_inference.infer_shapes(onnx.load(str(onnx_path)))
    keep = fp32_layer_names(onnx_float_nodes(model), kinds)
    converted = convert_float_to_float16(model, keep_io_types=True, node_block_list=keep)
    with atomic_path(out_path) as tmp:
        onnx.save(converted, str(tmp))
    return {"fp32_nodes": len(keep)}


@dataclass
class EngineBuildConfig:
    precision: str  # fp16 | int8
    profile: ProfileShapes
    fp32_kinds: tuple[str, ...] = FP32_KINDS
    workspace_gib: float = 4.0
    strongly_typed: bool | None = None  # None: weak typing on TensorRT 10, strong typing on 11+

    def __post_init__(self) -> None:
        if self.precision not in ("fp16", "int8"):
            raise SotriageError(f"invalid --tensorrt {self.precision!r}: use fp16 or int8")
        if self.workspace_gib <= 0:
            raise SotriageError(f"invalid TensorRT workspace {self.workspace_gib} GiB: use a positive size such as 4")
        fp32_layer_names([], self.fp32_kinds)  # validates the kinds


def build_engine(onnx_path: Path, plan_path: Path, config: EngineBuildConfig, work_dir: Path) -> dict:
    """Parse `onnx_path`, build a serialized engine for `config` into `plan_path`; return build facts.

    For int8, `onnx_path` is the Q/DQ model. The strongly typed FP16 build writes its FP16 graph to
    `work_dir`.
    """
    from ..runtime.gpu import import_tensorrt, require_cuda, tensorrt_major

    require_cuda(f"tensorrt-{config.precision}")
    trt = import_tensorrt()
    strongly_typed = config.strongly_typed if config.strongly_typed is not None else tensorrt_major(trt) >= 11
    facts = {"tensorrt_version": trt.__version__, "strongly_typed": strongly_typed, "profile": config.profile.to_dict()}

    source = onnx_path
    if strongly_typed and config.precision == "fp16":
        source = work_dir / "model-fp16.onnx"
        facts.update(convert_onnx_to_fp16(onnx_path, source, config.fp32_kinds))
    # NOTE: a strongly typed INT8 build keeps the non-quantized layers in FP32, the Q/DQ graph's float
    # type. Only the weakly typed TensorRT 10 build lets them run in FP16.

    # The builder's own log (tactics, fusions) only with -vv.
    logger = trt.Logger(trt.Logger.INFO if log.isEnabledFor(logging.DEBUG) else trt.Logger.WARNING)
    builder = trt.Builder(logger)
    # TensorRT 10 networks are always explicit-batch; STRONGLY_TYPED is accepted and ignored by 11.
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if strongly_typed else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(source)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise SotriageError(f"TensorRT's ONNX parser rejected {source}: {errors}")

    builder_config = builder.create_builder_config()
    builder_config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(config.workspace_gib * (1 << 30)))
    if not strongly_typed:
        builder_config.set_flag(trt.BuilderFlag.FP16)
        if config.precision == "int8":
            builder_config.set_flag(trt.BuilderFlag.INT8)
        names = fp32_layer_names(tensorrt_network_layers(network), config.fp32_kinds)
        facts["fp32_layers"] = apply_fp32_constraints(network, names, trt)
        builder_config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)

    profile = builder.create_optimization_profile()
    for index in range(network.num_inputs):
        name = network.get_input(index).name
        profile.set_shape(name, config.profile.min, config.profile.opt, config.profile.max)
    builder_config.add_optimization_profile(profile)

    log.info("building TensorRT %s engine from %s (profile %s); this takes minutes", config.precision, source, config.profile)
    serialized = builder.build_serialized_network(network, builder_config)
    if serialized is None:
        raise SotriageError(f"TensorRT failed to build the {config.precision} engine from {source}; rerun with -vv for the builder log")
    plan_path.write_bytes(bytes(serialized))
    facts["plan_mb"] = round(plan_path.stat().st_size / 1e6, 2)
    return facts


def build_config_record(config: EngineBuildConfig) -> dict:
    record = asdict(config)
    record["profile"] = config.profile.to_dict()
    return record
