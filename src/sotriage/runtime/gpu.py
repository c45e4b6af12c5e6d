"""Checks for what the GPU backends need on this machine: a CUDA device, TensorRT, onnxruntime-gpu.

Every check imports its package lazily, so this module imports on a CPU-only machine and returns
there the reason each GPU backend cannot run.
"""

from __future__ import annotations

import importlib.metadata
import logging
from typing import TYPE_CHECKING

import numpy as np

from ..errors import SotriageError

if TYPE_CHECKING:
    from .base import ModelFiles

log = logging.getLogger(__name__)

TORCH_CUDA_BACKENDS = ("torch-cuda-fp16", "torch-cuda-bf16")
TENSORRT_BACKENDS = ("tensorrt-fp16", "tensorrt-int8")
GPU_BACKENDS = (*TORCH_CUDA_BACKENDS, "onnx-cuda", *TENSORRT_BACKENDS)

ONNX_CUDA_HINT = (
    "onnxruntime-gpu is not installed (or is shadowed by the CPU package 'onnxruntime'). The two packages "
    "install the same 'onnxruntime' module and cannot share an environment, so replace one with the other "
    "(pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu)."
)


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def cuda_device_name(index: int = 0) -> str | None:
    """Return the CUDA device's name (e.g. 'NVIDIA H200'), or None without a CUDA device."""
    if not cuda_available():
        return None
    import torch

    return torch.cuda.get_device_name(index)


def no_cuda_reason() -> str | None:
    """Return why there is no usable CUDA device, or None when there is one."""
    import torch

    if torch.cuda.is_available():
        return None
    if torch.version.cuda is None:
        return (f"no CUDA device: this torch build ({torch.__version__}) has no CUDA support. "
                "Install a CUDA build of torch on a machine with an NVIDIA GPU.")
    return f"no CUDA device: torch {torch.__version__} (CUDA {torch.version.cuda}) finds no NVIDIA GPU or driver."


def require_cuda(backend: str) -> None:
    """Raise a SotriageError naming `backend` when there is no CUDA device."""
    reason = no_cuda_reason()
    if reason:
        raise SotriageError(f"backend {backend!r} cannot run here: {reason} On CPU, use onnx-int8 or onnx.")


def import_tensorrt():
    """Import TensorRT, or raise the install hint for the `gpu` extra."""
    try:
        import tensorrt
    except ImportError as error:
        raise SotriageError(f"tensorrt not installed: pip install 'sotriage[gpu]' (importing tensorrt failed: {error}).") from None
    return tensorrt


def tensorrt_version() -> str | None:
    try:
        return import_tensorrt().__version__
    except SotriageError:
        return None


def tensorrt_major(trt) -> int:
    return int(str(trt.__version__).split(".")[0])


def onnxruntime_cuda_reason() -> str | None:
    """Return why ONNX Runtime's CUDAExecutionProvider is unusable, or None when it is usable."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        return None
    try:
        importlib.metadata.version("onnxruntime-gpu")
    except importlib.metadata.PackageNotFoundError:
        return ONNX_CUDA_HINT
    # Both distributions installed: whichever was installed last owns the shared files.
    return f"onnxruntime-gpu is installed but CUDAExecutionProvider is not available. {ONNX_CUDA_HINT}"


def backend_problems(name: str) -> list[str]:
    """Return every reason the GPU backend `name` cannot run on this machine (empty: it can)."""
    if name not in GPU_BACKENDS:
        raise SotriageError(f"unknown GPU backend {name!r}: use one of {', '.join(GPU_BACKENDS)}")
    problems = []
    # onnx-cuda finds the GPU through ONNX Runtime alone, so it does not need a CUDA build of torch.
    cuda_reason = None if name == "onnx-cuda" else no_cuda_reason()
    if cuda_reason:
        problems.append(cuda_reason)
    if name == "torch-cuda-bf16" and not cuda_reason:
        import torch

        if not torch.cuda.is_bf16_supported():
            problems.append(f"{torch.cuda.get_device_name(0)} has no bf16 support (needs compute capability 8.0 or newer): "
                            "use torch-cuda-fp16.")
    if name == "onnx-cuda":
        reason = onnxruntime_cuda_reason()
        if reason:
            problems.append(reason)
    if name in TENSORRT_BACKENDS:
        try:
            import_tensorrt()
        except SotriageError as error:
            problems.append(str(error))
    return problems


def require_backend(name: str) -> None:
    problems = backend_problems(name)
    if problems:
        raise SotriageError(f"backend {name!r} cannot run here: {' '.join(problems)} On CPU, use onnx-int8 or onnx.")


def gpu_backend_status(files: "ModelFiles | None" = None) -> dict[str, str | None]:
    """Map each GPU backend to None when it can run here, else to the reason it cannot.

    With `files`, a TensorRT backend also needs an engine built for this model, TensorRT version
    and GPU (see `sotriage export RUN --tensorrt fp16|int8`).
    """
    status: dict[str, str | None] = {}
    for name in GPU_BACKENDS:
        problems = backend_problems(name)
        if not problems and files is not None and name in TENSORRT_BACKENDS:
            from .tensorrt_backend import find_engine_for

            try:
                find_engine_for(files, name.removeprefix("tensorrt-"))
            except SotriageError as error:
                problems.append(str(error))
        status[name] = " ".join(problems) if problems else None
    return status


def gpu_backends_available(files: "ModelFiles | None" = None) -> list[str]:
    """Return the GPU backends that `create_backend` can create on this machine ([] without CUDA)."""
    return [name for name, reason in gpu_backend_status(files).items() if reason is None]


def parity_report(reference_logits: np.ndarray, logits: np.ndarray, labels: np.ndarray | None = None) -> dict:
    """Compare a backend's logits with the CPU FP32 reference, as the CPU export gate does.

    Returns max |logit difference|, argmax agreement and, with labels, both accuracies and the
    accuracy drop (reference minus backend, as a fraction).
    """
    from ..evaluation.metrics import agreement

    entry = agreement(reference_logits, logits)
    if labels is not None and len(labels):
        labels = np.asarray(labels)
        entry["reference_accuracy"] = float((reference_logits.argmax(1) == labels).mean())
        entry["accuracy"] = float((logits.argmax(1) == labels).mean())
        entry["accuracy_drop"] = entry["reference_accuracy"] - entry["accuracy"]
    return entry
