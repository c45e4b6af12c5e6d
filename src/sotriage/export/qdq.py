"""Q/DQ INT8 ONNX models for TensorRT's explicit quantization, with ONNX Runtime's static quantizer.

TensorRT builds an INT8 engine from a graph whose QuantizeLinear/DequantizeLinear (Q/DQ) pairs
mark exactly which tensors are INT8. The graph is quantized from the UNFUSED model.onnx: the fused
graph contains ONNX Runtime contrib operators (Attention, SkipLayerNormalization) that TensorRT's ONNX
parser does not know, and TensorRT fuses the plain graph itself.

Placement policy (TensorRT accepts only symmetric INT8, so every zero point is 0):
  * every MatMul inside an encoder layer gets Q/DQ on both inputs: the Q/K/V, attention-output and
    feed-forward weights (per-channel scales) and the two attention matrix products;
  * MatMul/Gemm outputs are not quantized, so bias adds and residual sums stay in float;
  * embeddings, LayerNorm and the classifier head (pooler and classifier) stay in float unless
    `QdqConfig.quantize` names them;
  * Softmax stays in float: onnxruntime 1.32's QDQ quantizer has no Softmax handler. Its output is
    quantized anyway, as the input of the attention-probabilities MatMul.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import onnx

from ..encoding import Encoded, length_sorted_batches, pad_batch
from ..errors import SotriageError
from ..io import atomic_path

log = logging.getLogger(__name__)

# NOTE: percentile was the default from a CPU comparison on MiniLM (docs/performance.md, "GPU path");
# TensorRT's INT8 kernels round differently from ONNX Runtime's CPU kernels, so the best method on
# a GPU may differ.
CALIBRATION_METHODS = ("percentile", "entropy", "minmax")
DEFAULT_CALIBRATION = "percentile"
OPTIONAL_PARTS = ("embeddings", "layernorm", "head")

# Scopes in the node names that torch.onnx.export writes from module paths, e.g.
# "/model/bert/encoder/layer.0/attention/self/query/MatMul" or "/model/distilbert/transformer/layer.3/...".
_ENCODER_LAYER = re.compile(r"/layers?\.\d+/")
_EMBEDDINGS = re.compile(r"/embeddings/")


@dataclass
class QdqConfig:
    calibration: str = DEFAULT_CALIBRATION
    calibration_examples: int = 256  # real training questions
    calibration_batch_size: int = 8
    percentile: float = 99.999  # for calibration="percentile"
    quantize: tuple[str, ...] = ()  # optional parts quantized beyond the encoder MatMuls
    per_channel: bool = True
    min_agreement: float = 0.95  # of the Q/DQ model in ONNX Runtime (CPU) with the FP32 model

    def __post_init__(self) -> None:
        if self.calibration not in CALIBRATION_METHODS:
            raise SotriageError(f"invalid calibration method {self.calibration!r}: use one of {', '.join(CALIBRATION_METHODS)}")
        if self.calibration_examples < 1:
            raise SotriageError(f"invalid --calibration-examples {self.calibration_examples}: use 1 or more")
        if self.calibration_batch_size < 1:
            raise SotriageError(f"invalid calibration batch size {self.calibration_batch_size}: use 1 or more")
        if not 90.0 <= self.percentile <= 100.0:
            raise SotriageError(f"invalid calibration percentile {self.percentile}: use a value in [90, 100], e.g. 99.999")
        unknown = [part for part in self.quantize if part not in OPTIONAL_PARTS]
        if unknown:
            raise SotriageError(f"invalid --qdq-quantize {', '.join(unknown)}: use any of {', '.join(OPTIONAL_PARTS)}")
        if not 0 <= self.min_agreement <= 1:
            raise SotriageError(f"invalid minimum agreement {self.min_agreement}: use a fraction in [0, 1]")


def node_scope(name: str) -> str:
    """Classify a node by its name: 'embeddings', 'encoder' (inside a numbered layer) or 'head'.

    Everything outside the embeddings and the encoder layers (pooler, classifier, pre-classifier)
    counts as the head.
    """
    if _EMBEDDINGS.search(name):
        return "embeddings"
    if _ENCODER_LAYER.search(name):
        return "encoder"
    return "head"


def quantization_plan(model: onnx.ModelProto, quantize: Iterable[str] = ()) -> tuple[list[str], list[str]]:
    """Return (op types to quantize, node names to exclude) for the placement policy.

    Raises SotriageError when the graph has no encoder MatMul by name, since then the policy
    would quantize nothing that matters.
    """
    quantize = set(quantize)
    op_types = ["MatMul"]
    if "embeddings" in quantize:
        op_types.append("Gather")
    if "layernorm" in quantize:
        op_types.append("LayerNormalization")
    if "head" in quantize:
        op_types.append("Gemm")

    excluded = []
    encoder_matmuls = 0
    for node in model.graph.node:
        if node.op_type not in op_types:
            continue
        scope = node_scope(node.name)
        if node.op_type == "MatMul" and scope == "encoder":
            encoder_matmuls += 1
            continue
        if node.op_type == "Gather" and scope != "embeddings":
            excluded.append(node.name)  # shape lookups and the pooler's [CLS] pick
        elif scope == "embeddings" and "embeddings" not in quantize:
            excluded.append(node.name)
        elif scope == "head" and "head" not in quantize and node.op_type in ("MatMul", "Gemm"):
            excluded.append(node.name)
        elif node.op_type == "LayerNormalization" and "layernorm" not in quantize:
            excluded.append(node.name)
    if encoder_matmuls == 0:
        raise SotriageError(
            "found no MatMul inside an encoder layer by node name (expected names such as "
            "/model/bert/encoder/layer.0/attention/self/query/MatMul). Export the model with `sotriage export`."
        )
    return op_types, excluded


class QuestionCalibrationReader:
    """Feed padded batches of encoded questions to ONNX Runtime's calibrator.

    Implements the CalibrationDataReader protocol (get_next, __len__, set_range), so the quantizer
    can collect statistics one batch at a time. Keeping every activation of all batches at once
    would take gigabytes, because the attention probabilities alone are heads x seq x seq per question.
    """

    def __init__(self, encoded: Sequence[Encoded], pad_id: int, batch_size: int, input_names: Sequence[str]):
        lengths = [len(item) for item in encoded]
        self.batches = [
            {name: array for name, array in pad_batch([encoded[i] for i in index], pad_id).items() if name in input_names}
            for index in length_sorted_batches(lengths, batch_size)
        ]
        self.start, self.end = 0, len(self.batches)
        self.position = 0

    def __len__(self) -> int:
        return len(self.batches)

    def set_range(self, start_index: int, end_index: int) -> None:
        self.start, self.end = start_index, min(end_index, len(self.batches))
        self.position = self.start

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.position >= self.end:
            return None
        batch = self.batches[self.position]
        self.position += 1
        return batch

    def rewind(self) -> None:
        self.set_range(0, len(self.batches))


def quantize_qdq(onnx_path: str | Path, out_path: str | Path, reader: QuestionCalibrationReader, config: QdqConfig) -> dict:
    """Write a Q/DQ INT8 model of the unfused `onnx_path` to `out_path`; return what was quantized."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load(str(onnx_path))
    if any(node.domain == "com.microsoft" for node in model.graph.node):
        raise SotriageError(
            f"{onnx_path} contains ONNX Runtime contrib operators (a fused graph), which TensorRT cannot parse. "
            "Quantize the unfused model.onnx instead."
        )
    op_types, excluded = quantization_plan(model, config.quantize)
    method = {"percentile": CalibrationMethod.Percentile, "entropy": CalibrationMethod.Entropy,
              "minmax": CalibrationMethod.MinMax}[config.calibration]
    extra_options = {
        "ActivationSymmetric": True,  # TensorRT supports zero point 0 only
        "WeightSymmetric": True,
        "OpTypesToExcludeOutputQuantization": ["MatMul", "Gemm"],
        "QuantizeBias": False,  # an INT32 bias DequantizeLinear is not a TensorRT Q/DQ type
        "QDQOpTypePerChannelSupportToAxis": {"MatMul": 1},  # one scale per output column of a (K, N) weight
        # One calibration batch per statistics pass keeps memory bounded (see QuestionCalibrationReader).
        "CalibStridedMinMax": 1,
        "CalibPercentile": config.percentile,
    }

    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        prepared = tmp.with_name(tmp.name + ".pre.onnx")
        try:
            # ONNX shape inference only. ORT's graph optimizations would add ORT-specific nodes, and
            # its symbolic shape inference fails on the exported attention-mask subgraph.
            quant_pre_process(str(onnx_path), str(prepared), skip_optimization=True, skip_symbolic_shape=True)
            reader.rewind()
            quantize_static(
                str(prepared), str(tmp), calibration_data_reader=reader, quant_format=QuantFormat.QDQ,
                op_types_to_quantize=op_types, per_channel=config.per_channel, activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8, nodes_to_exclude=excluded, calibrate_method=method,
                extra_options=extra_options,
            )
        finally:
            if prepared.exists():
                prepared.unlink()
        quantized = onnx.load(str(tmp))
        rewired = keep_float_paths(quantized, op_types)
        onnx.save(quantized, str(tmp))
        placement = qdq_placement(quantized, op_types)
        check_placement(placement, config.quantize)
    log.info("wrote Q/DQ model %s (%s calibration on %d batches): %s", out_path, config.calibration, len(reader), placement)
    return {"calibration": config.calibration, "calibration_batches": len(reader), "excluded_nodes": len(excluded),
            "op_types": op_types, "float_inputs_restored": rewired, "placement": placement}


def keep_float_paths(model: onnx.ModelProto, quantized_op_types: Sequence[str]) -> int:
    """Feed the original float tensor to every consumer that is not a quantized operator; return how many.

    When a tensor has one quantized consumer, ONNX Runtime's quantizer routes all its consumers
    through the Q/DQ pair, so the residual Add after a LayerNorm would read an INT8-rounded copy.
    Keeping residual sums in float is the usual placement for transformer encoders. Q/DQ pairs
    left without consumers are removed.
    """
    producers = {output: node for node in model.graph.node for output in node.output}
    rewired = 0
    for node in model.graph.node:
        if node.op_type in quantized_op_types or node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            continue
        for position, name in enumerate(node.input):
            source = _activation_before_qdq(name, producers)
            if source is not None:
                node.input[position] = source
                rewired += 1
    _remove_dead_qdq(model)
    return rewired


def _activation_before_qdq(name: str, producers: dict) -> str | None:
    """Return X when `name` is DequantizeLinear(QuantizeLinear(X)) of an activation, else None."""
    dequantize = producers.get(name)
    if dequantize is None or dequantize.op_type != "DequantizeLinear":
        return None
    quantize = producers.get(dequantize.input[0])
    if quantize is None or quantize.op_type != "QuantizeLinear":
        return None  # a weight stored in INT8 has no QuantizeLinear before its DequantizeLinear
    return quantize.input[0]


def _remove_dead_qdq(model: onnx.ModelProto) -> None:
    graph_outputs = {output.name for output in model.graph.output}
    while True:
        consumed = {name for node in model.graph.node for name in node.input} | graph_outputs
        dead = [node for node in model.graph.node
                if node.op_type in ("QuantizeLinear", "DequantizeLinear") and not any(out in consumed for out in node.output)]
        if not dead:
            return
        for node in dead:
            model.graph.node.remove(node)


def qdq_placement(model: onnx.ModelProto, quantized_op_types: Sequence[str] = ("MatMul",)) -> dict:
    """Count, per part of the network, the nodes whose float inputs all come from DequantizeLinear.

    `float_consumers_of_qdq` counts inputs of other operators (residual Adds, LayerNorm, Softmax)
    that read a Q/DQ-rounded activation; the policy wants none.
    """
    producers = {output: node for node in model.graph.node for output in node.output}
    initializers = {init.name for init in model.graph.initializer}

    def quantized_inputs(node: onnx.NodeProto, positions: Iterable[int]) -> bool:
        names = [node.input[i] for i in positions if i < len(node.input) and node.input[i]]
        return bool(names) and all(
            name not in initializers and name in producers and producers[name].op_type == "DequantizeLinear" for name in names
        )

    counts = {
        "encoder_matmuls": 0, "encoder_matmuls_quantized": 0,
        "embedding_gathers": 0, "embedding_gathers_quantized": 0,
        "layernorms": 0, "layernorms_quantized": 0,
        "head_linears": 0, "head_linears_quantized": 0,
        "float_consumers_of_qdq": 0, "zero_points_nonzero": 0, "quantized_types": [],
    }
    for node in model.graph.node:
        scope = node_scope(node.name)
        if node.op_type == "MatMul" and scope == "encoder":
            counts["encoder_matmuls"] += 1
            counts["encoder_matmuls_quantized"] += quantized_inputs(node, (0, 1))
        elif node.op_type == "Gather" and scope == "embeddings" and node.input[0] in _float_sources(model, producers):
            counts["embedding_gathers"] += 1
            counts["embedding_gathers_quantized"] += quantized_inputs(node, (0,))
        elif node.op_type == "LayerNormalization":
            counts["layernorms"] += 1
            counts["layernorms_quantized"] += quantized_inputs(node, (0,))
        elif node.op_type in ("MatMul", "Gemm") and scope == "head":
            counts["head_linears"] += 1
            counts["head_linears_quantized"] += quantized_inputs(node, (0,))
        if node.op_type not in quantized_op_types and node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            counts["float_consumers_of_qdq"] += sum(_activation_before_qdq(name, producers) is not None for name in node.input)

    types, nonzero = _zero_point_facts(model, producers)
    counts["zero_points_nonzero"] = nonzero
    counts["quantized_types"] = sorted(types)
    return counts


def _float_sources(model: onnx.ModelProto, producers: dict) -> set[str]:
    """Names of the embedding tables: float initializers, or tensors dequantized from int8 ones."""
    names = {init.name for init in model.graph.initializer if init.data_type == onnx.TensorProto.FLOAT}
    names |= {output for output, node in producers.items() if node.op_type == "DequantizeLinear"}
    return names


def _zero_point_facts(model: onnx.ModelProto, producers: dict) -> tuple[set[str], int]:
    """Return the element types of the Q/DQ zero points and how many zero points are not all zero."""
    from onnx import numpy_helper

    initializers = {init.name: init for init in model.graph.initializer}
    types, nonzero = set(), 0
    for node in model.graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear") or len(node.input) < 3:
            continue
        zero_point = initializers.get(node.input[2])
        if zero_point is None:
            continue
        types.add(onnx.TensorProto.DataType.Name(zero_point.data_type))
        nonzero += bool(np.any(numpy_helper.to_array(zero_point) != 0))
    return types, nonzero


def check_placement(placement: dict, quantize: Iterable[str]) -> None:
    """Raise SotriageError when the Q/DQ graph breaks the placement policy or TensorRT's rules."""
    quantize = set(quantize)
    problems = []
    if placement["encoder_matmuls_quantized"] != placement["encoder_matmuls"]:
        problems.append(f"{placement['encoder_matmuls'] - placement['encoder_matmuls_quantized']} of "
                        f"{placement['encoder_matmuls']} encoder MatMuls lack quantized inputs")
    expectations = (("embeddings", "embedding_gathers"), ("layernorm", "layernorms"), ("head", "head_linears"))
    for part, key in expectations:
        quantized = placement[f"{key}_quantized"]
        if part in quantize and quantized < placement[key]:
            problems.append(f"{placement[key] - quantized} of {placement[key]} {key} are not quantized although --qdq-quantize {part} was given")
        if part not in quantize and quantized:
            problems.append(f"{quantized} {key} are quantized although the policy keeps them in float")
    if placement["float_consumers_of_qdq"]:
        problems.append(f"{placement['float_consumers_of_qdq']} inputs of float operators read a Q/DQ-rounded activation")
    if placement["zero_points_nonzero"]:
        problems.append(f"{placement['zero_points_nonzero']} Q/DQ nodes have non-zero zero points (TensorRT needs symmetric INT8)")
    if any(name != "INT8" for name in placement["quantized_types"]):
        problems.append(f"quantized types {placement['quantized_types']} (TensorRT needs INT8)")
    if problems:
        raise SotriageError("the Q/DQ model breaks the placement policy: " + "; ".join(problems))
