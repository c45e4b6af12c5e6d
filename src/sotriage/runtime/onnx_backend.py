"""ONNX Runtime CPU backends: FP32 fused, INT8 dynamic, and INT8 static when exported."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import Backend, ModelFiles, register_backend

EXPORT_HINT = "Create it with: sotriage export RUN_DIR"


def session_options(threads: int | None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    # ORT's spinning worker threads would compete with the tokenizer and torch for 2 cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class OnnxBackend(Backend):
    def __init__(self, path: str | Path, threads: int | None = None, name: str = "onnx",
                 providers: list[str] | None = None):
        import onnxruntime as ort

        self.name = name
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), session_options(threads), providers=providers or ["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        feed = {name: inputs[name] for name in self.input_names}
        return self.session.run(["logits"], feed)[0]

    def close(self) -> None:
        self.session = None


@register_backend("onnx")
def _fp32(files: ModelFiles, threads: int | None) -> Backend:
    return OnnxBackend(files.require(files.onnx_fp32, EXPORT_HINT), threads, name="onnx")


@register_backend("onnx-int8")
def _int8(files: ModelFiles, threads: int | None) -> Backend:
    return OnnxBackend(files.require(files.onnx_int8, EXPORT_HINT), threads, name="onnx-int8")


@register_backend("onnx-int8-static")
def _int8_static(files: ModelFiles, threads: int | None) -> Backend:
    hint = "Create it with: sotriage export RUN_DIR --static-int8"
    return OnnxBackend(files.require(files.onnx_int8_static, hint), threads, name="onnx-int8-static")
