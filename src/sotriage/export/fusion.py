"""Apply ONNX Runtime's BERT fusions and check that they really happened."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import onnx

from ..errors import SotriageError
from ..io import atomic_path

log = logging.getLogger(__name__)

# Fused operators that a fully optimized BERT encoder contains. Gelu may fuse to Gelu, BiasGelu or
# FastGelu depending on the exported pattern, so any of them counts.
REQUIRED_FUSIONS = {
    "Attention": ("Attention", "MultiHeadAttention"),
    "SkipLayerNormalization": ("SkipLayerNormalization",),
    "Gelu": ("Gelu", "BiasGelu", "FastGelu"),
}


def fuse_bert(onnx_path: str | Path, out_path: str | Path, num_heads: int, hidden_size: int) -> dict[str, int]:
    """Write the fused graph to `out_path`; return the counts of fused operators.

    Raises SotriageError when a required fusion is missing, because an unfused graph is several
    times slower and quantizes worse.
    """
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(
        str(onnx_path),
        model_type="bert",
        num_heads=num_heads,
        hidden_size=hidden_size,
        opt_level=0,  # graph fusions only; ORT applies its own level at session creation
    )
    counts = fused_operator_counts(optimized.model)
    missing = [name for name, ops in REQUIRED_FUSIONS.items() if not any(counts.get(op, 0) for op in ops)]
    if missing:
        raise SotriageError(
            f"ONNX Runtime fused no {', '.join(missing)} nodes in {onnx_path} (found: {dict(counts)}). "
            "Export with eager attention and dynamo=False (what `sotriage export` does) and a BERT-family model."
        )
    with atomic_path(out_path) as tmp:
        optimized.save_model_to_file(str(tmp))
    log.info("fused %s: %s", out_path, counts)
    return counts


def fused_operator_counts(model: onnx.ModelProto) -> dict[str, int]:
    interesting = {"Attention", "MultiHeadAttention", "SkipLayerNormalization", "EmbedLayerNormalization",
                   "Gelu", "BiasGelu", "FastGelu", "LayerNormalization", "MatMul", "QAttention", "MatMulInteger",
                   "DynamicQuantizeLinear", "QuantizeLinear", "DequantizeLinear"}
    counts = Counter(node.op_type for node in model.graph.node)
    return {op: n for op, n in sorted(counts.items()) if op in interesting}
