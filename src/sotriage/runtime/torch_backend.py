"""PyTorch FP32 backend: the reference every other backend is checked against."""

from __future__ import annotations

import numpy as np
import torch

from ..modeling import load_sequence_classifier
from .base import Backend, ModelFiles, register_backend


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, model_dir, threads: int | None = None, attn_implementation: str = "eager"):
        if threads:
            torch.set_num_threads(threads)
        self.model = load_sequence_classifier(str(model_dir), attn_implementation=attn_implementation).eval()

    @torch.inference_mode()
    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        tensors = {name: torch.from_numpy(np.ascontiguousarray(array)) for name, array in inputs.items()}
        return self.model(**tensors).logits.float().numpy()


@register_backend("torch")
def _create(files: ModelFiles, threads: int | None) -> Backend:
    return TorchBackend(files.model_dir, threads)
