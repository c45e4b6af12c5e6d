"""Export a merged sequence classifier to ONNX with dynamic batch and sequence axes.

The TorchScript-based exporter (`dynamo=False`) on a model loaded with eager attention is used on
purpose. With torch 2.13 the default dynamo exporter produces a graph in which ONNX Runtime's
transformer optimizer fuses no Attention node, and which guards every attention matrix with an
IsNaN + Where pair that costs time and memory.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch

from ..encoding import INPUT_NAMES
from ..io import atomic_path
from ..modeling import load_sequence_classifier

log = logging.getLogger(__name__)

OPSET = 17


class _LogitsOnly(torch.nn.Module):
    """Wrap the classifier so the exported graph has one output, `logits` (batch, num_labels)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits


def export_onnx(model_dir: str | Path, out_path: str | Path, opset: int = OPSET) -> Path:
    """Write `out_path` (FP32 ONNX) from a Hugging Face model folder."""
    model = load_sequence_classifier(str(model_dir), attn_implementation="eager").eval()
    wrapper = _LogitsOnly(model).eval()

    # The dummy shape (2, 16) is arbitrary: both axes are exported as dynamic.
    vocab_size = model.config.vocab_size
    dummy = {
        "input_ids": torch.randint(min(5, vocab_size - 1), vocab_size, (2, 16), dtype=torch.int64),
        "attention_mask": torch.ones(2, 16, dtype=torch.int64),
        "token_type_ids": torch.zeros(2, 16, dtype=torch.int64),
    }
    dynamic_axes = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}
    dynamic_axes["logits"] = {0: "batch"}

    out_path = Path(out_path)
    with atomic_path(out_path) as tmp, torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow on shapes
        torch.onnx.export(
            wrapper,
            (dummy["input_ids"], dummy["attention_mask"], dummy["token_type_ids"]),
            str(tmp),
            input_names=list(INPUT_NAMES),
            output_names=["logits"],
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    log.info("exported %s", out_path)
    return out_path
