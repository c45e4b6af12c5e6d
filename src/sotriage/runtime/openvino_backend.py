"""OpenVINO CPU backend, reading the exported ONNX graph directly (no IR conversion step).

It reads the unfused `model.onnx` by default. OpenVINO applies its own transformer fusions to the
plain ONNX operators, and the unfused graph uses standard ONNX operators only, so it does not
depend on which ONNX Runtime contrib operators OpenVINO's ONNX frontend supports. Shapes stay
dynamic in batch and sequence length, so length-sorted batches need no padding to a fixed size.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import SotriageError, missing_extra
from .base import Backend, ModelFiles, register_backend

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "bf16", "f32")
GRAPHS = ("unfused", "fused")
EXPORT_HINT = "Create it with: sotriage export RUN_DIR"


def import_openvino():
    try:
        import openvino
    except ImportError:
        raise missing_extra("openvino", "openvino") from None
    return openvino


def default_precision(core) -> str:
    """Return "bf16" when OpenVINO's CPU plugin lists BF16 among its optimization capabilities, else "f32".

    The plugin lists it on CPUs with native bf16 instructions, such as AVX512_BF16 on AMD Zen 5.
    """
    capabilities = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return "bf16" if "BF16" in capabilities else "f32"


class OpenVinoBackend(Backend):
    """Run an ONNX file with OpenVINO's CPU plugin at the requested inference precision.

    `precision` is "bf16", "f32" or "auto" (bf16 where the CPU has native bf16, else f32); the
    precision actually used is in `.precision`.
    """

    def __init__(self, path: str | Path, threads: int | None = None, precision: str = "auto", name: str = "openvino"):
        if precision not in PRECISIONS:
            raise SotriageError(f"invalid OpenVINO precision {precision!r}: use one of {', '.join(PRECISIONS)}")
        if threads is not None and threads < 1:
            raise SotriageError(f"invalid threads {threads}: use 1 or more, or leave it unset for all cores")
        openvino = import_openvino()

        self.name = name
        self.path = Path(path)
        core = openvino.Core()
        self.precision = default_precision(core) if precision == "auto" else precision
        config = {
            "INFERENCE_PRECISION_HINT": self.precision,
            # One synchronous request per call: LATENCY runs one stream over all threads.
            "PERFORMANCE_HINT": "LATENCY",
        }
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        model = core.read_model(str(self.path))
        self.input_names = [port.get_any_name() for port in model.inputs]
        self.compiled = core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.threads = int(self.compiled.get_property("INFERENCE_NUM_THREADS"))
        log.info("OpenVINO %s: %s on %s, precision %s, %d threads", openvino.__version__, self.path.name,
                 core.get_property("CPU", "FULL_DEVICE_NAME"), self.precision, self.threads)

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        feed = {name: np.ascontiguousarray(inputs[name]) for name in self.input_names}
        outputs = self.request.infer(feed)
        # Copy: the request reuses its output buffer on the next call.
        return np.array(outputs[self.compiled.output("logits")], dtype=np.float32)

    def close(self) -> None:
        self.request = None
        self.compiled = None


def openvino_model_path(files: ModelFiles, graph: str = "unfused") -> Path:
    if graph not in GRAPHS:
        raise SotriageError(f"invalid OpenVINO graph {graph!r}: use one of {', '.join(GRAPHS)}")
    path = files.onnx_unfused if graph == "unfused" else files.onnx_fp32
    return files.require(path, EXPORT_HINT)


@register_backend("openvino")
def _create(files: ModelFiles, threads: int | None) -> Backend:
    return OpenVinoBackend(openvino_model_path(files), threads)


@register_backend("openvino-int8")
def _create_int8(files: ModelFiles, threads: int | None) -> Backend:
    # The Q/DQ graph carries the INT8 scales; OpenVINO turns each Q/DQ-wrapped MatMul into an INT8
    # (VNNI) kernel and runs the float parts at the default precision (bf16 on Zen 5).
    path = files.require(files.onnx_int8_qdq, "Create it with: sotriage export RUN_DIR --openvino-int8")
    return OpenVinoBackend(path, threads, name="openvino-int8")
