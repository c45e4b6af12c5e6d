"""INT8 dynamic quantization of the fused ONNX graph."""

from __future__ import annotations

import logging
from pathlib import Path

import onnx

from ..io import atomic_path

log = logging.getLogger(__name__)


def quantize_dynamic_int8(fused_path: str | Path, out_path: str | Path, per_channel: bool = True,
                          nodes_to_exclude: list[str] | None = None) -> Path:
    """Quantize weights to INT8 (activations quantized at run time) and write `out_path`.

    Per-channel weight scales are the default: on MiniLM with a trained head, per-tensor scales
    lost 1.8 accuracy points on 5,000 real questions and per-channel 0.16, at the same speed.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with atomic_path(out_path) as tmp:
        quantize_dynamic(
            str(fused_path),
            str(tmp),
            weight_type=QuantType.QInt8,
            per_channel=per_channel,
            nodes_to_exclude=nodes_to_exclude or [],
            # Without a default type the quantizer fails on fused graphs with
            # "Unable to find data type for weight_name".
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    log.info("quantized %s (per_channel=%s, excluded %d nodes)", out_path, per_channel, len(nodes_to_exclude or []))
    return Path(out_path)
