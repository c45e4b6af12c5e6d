"""The backend interface: padded token arrays in, logits out.

Every backend takes a dict of int64 arrays `input_ids`, `attention_mask`, `token_type_ids`, each
(batch, seq), and returns float32 logits (batch, num_labels). Backends are created by name from a
model folder and its ONNX files, so evaluation, benchmarks and serving treat them alike.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import MissingArtifactError, SotriageError


class Backend(abc.ABC):
    name: str = "backend"

    @abc.abstractmethod
    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Return logits (batch, num_labels) for padded inputs (batch, seq)."""

    def close(self) -> None:
        """Release resources such as sessions; the default has none."""


@dataclass
class ModelFiles:
    """Where a model's artifacts are: the merged model folder and the ONNX files beside it."""

    model_dir: Path
    onnx_dir: Path

    @property
    def onnx_fp32(self) -> Path:
        return self.onnx_dir / "model-fused.onnx"

    @property
    def onnx_unfused(self) -> Path:
        return self.onnx_dir / "model.onnx"

    @property
    def onnx_int8(self) -> Path:
        return self.onnx_dir / "model-int8.onnx"

    @property
    def onnx_int8_static(self) -> Path:
        return self.onnx_dir / "model-int8-static.onnx"

    @property
    def onnx_int8_qdq(self) -> Path:
        """Q/DQ INT8 graph of the unfused model, run by the openvino-int8 backend."""
        return self.onnx_dir / "model-int8-qdq.onnx"

    def require(self, path: Path, hint: str) -> Path:
        if not path.is_file():
            raise MissingArtifactError(f"{path} not found. {hint}")
        return path


_FACTORIES: dict[str, Callable[[ModelFiles, int | None], Backend]] = {}


def register_backend(name: str):
    def decorator(factory):
        _FACTORIES[name] = factory
        return factory

    return decorator


def available_backends() -> list[str]:
    _load_builtin_backends()
    return sorted(_FACTORIES)


def create_backend(name: str, files: ModelFiles, threads: int | None = None) -> Backend:
    """Create the backend `name` for the model at `files`."""
    _load_builtin_backends()
    if name not in _FACTORIES:
        raise SotriageError(f"unknown backend {name!r}. Available: {', '.join(sorted(_FACTORIES))}")
    return _FACTORIES[name](files, threads)


def _load_builtin_backends() -> None:
    # Importing the modules registers their backends; optional packages are imported lazily inside.
    from . import onnx_backend, torch_backend  # noqa: F401
    # GPU backends register on every machine; creating one without CUDA raises a clear error.
    from . import onnx_cuda_backend, tensorrt_backend, torch_cuda_backend  # noqa: F401

    try:
        from . import openvino_backend  # noqa: F401
    except ImportError:
        pass
