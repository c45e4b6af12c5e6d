"""PyTorch CUDA backends `torch-cuda-fp16` and `torch-cuda-bf16`: the GPU path without TensorRT.

The merged model runs in half precision (fp16) or bfloat16 with PyTorch's scaled-dot-product
attention (SDPA), which dispatches to FlashAttention or memory-efficient kernels on recent GPUs.
Logits are returned as float32 like every backend.

`torch.compile` is opt-in, because compiling takes a minute and recompiles for new shapes: set
SOTRIAGE_TORCH_COMPILE=1 (mode "default"), or to a torch.compile mode such as "max-autotune".

NOTE: tests run this class on the CPU in bfloat16 and float16; the CUDA factories have never run on
a GPU in this repository yet.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from ..errors import SotriageError
from ..modeling import load_sequence_classifier
from .base import Backend, ModelFiles, register_backend
from .gpu import require_backend

log = logging.getLogger(__name__)

COMPILE_ENV = "SOTRIAGE_TORCH_COMPILE"
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def compile_mode_from_env() -> str | None:
    """Read SOTRIAGE_TORCH_COMPILE: unset/0 means no compile, 1 means mode "default"."""
    value = os.environ.get(COMPILE_ENV, "").strip()
    if value in ("", "0"):
        return None
    if value == "1":
        return "default"
    if value not in COMPILE_MODES:
        raise SotriageError(f"invalid {COMPILE_ENV}={value!r}: use 0, 1 or one of {', '.join(COMPILE_MODES)}")
    return value


class TorchCudaBackend(Backend):
    def __init__(self, model_dir, dtype: str, name: str, device: str = "cuda", compile_mode: str | None = None):
        import torch

        dtypes = {"fp16": torch.float16, "bf16": torch.bfloat16}
        if dtype not in dtypes:
            raise SotriageError(f"invalid dtype {dtype!r} for {name}: use fp16 or bf16")
        self.name = name
        self.torch = torch
        self.device = torch.device(device)
        model = load_sequence_classifier(str(model_dir), attn_implementation="sdpa")
        self.model = model.to(device=self.device, dtype=dtypes[dtype]).eval()
        if compile_mode:
            log.info("%s: torch.compile(mode=%r); the first batches of each new shape compile", name, compile_mode)
            # dynamic=True: length-bucketed batches have many sequence lengths.
            self.model = torch.compile(self.model, mode=compile_mode, dynamic=True)

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            tensors = {
                name: torch.from_numpy(np.ascontiguousarray(array)).to(self.device, non_blocking=True)
                for name, array in inputs.items()
            }
            logits = self.model(**tensors).logits  # (batch, num_labels) in fp16/bf16
            return logits.float().cpu().numpy()


def _create(files: ModelFiles, dtype: str) -> Backend:
    name = f"torch-cuda-{dtype}"
    require_backend(name)
    return TorchCudaBackend(files.model_dir, dtype, name, device="cuda", compile_mode=compile_mode_from_env())


@register_backend("torch-cuda-fp16")
def _fp16(files: ModelFiles, threads: int | None) -> Backend:
    return _create(files, "fp16")


@register_backend("torch-cuda-bf16")
def _bf16(files: ModelFiles, threads: int | None) -> Backend:
    return _create(files, "bf16")
