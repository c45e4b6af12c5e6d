"""ONNX Runtime CUDA backend `onnx-cuda`: the fused FP32 graph on CUDAExecutionProvider.

The fused operators of model-fused.onnx (Attention, SkipLayerNormalization, BiasGelu,
EmbedLayerNormalization) have CUDA kernels in onnxruntime-gpu. The package replaces the CPU
package 'onnxruntime' (both install the same module), see `gpu.ONNX_CUDA_HINT`.

NOTE: never run on a GPU in this repository yet.
"""

from __future__ import annotations

import logging

from ..errors import SotriageError
from .base import Backend, ModelFiles, register_backend
from .gpu import require_backend
from .onnx_backend import EXPORT_HINT, OnnxBackend

log = logging.getLogger(__name__)


class OnnxCudaBackend(OnnxBackend):
    def __init__(self, path, threads: int | None = None, device_id: int = 0):
        super().__init__(path, threads, name="onnx-cuda",
                         providers=[("CUDAExecutionProvider", {"device_id": device_id}), "CPUExecutionProvider"])
        providers = self.session.get_providers()
        if providers[0] != "CUDAExecutionProvider":
            # ORT falls back to the CPU when the CUDA provider fails to load (CUDA/cuDNN libraries).
            raise SotriageError(
                f"onnx-cuda: ONNX Runtime could not start CUDAExecutionProvider (session providers: {providers}). "
                "Check that the CUDA and cuDNN versions match the onnxruntime-gpu release; rerun with -vv for ORT's log."
            )
        log.info("onnx-cuda: %s on %s", path, providers)


@register_backend("onnx-cuda")
def _create(files: ModelFiles, threads: int | None) -> Backend:
    require_backend("onnx-cuda")
    return OnnxCudaBackend(files.require(files.onnx_fp32, EXPORT_HINT), threads)
