"""TensorRT backends `tensorrt-fp16` and `tensorrt-int8`: a cached engine, run with execute_async_v3.

Device buffers are torch CUDA tensors, allocated once at the profile's max shape and bound to the
execution context once. Each call copies the padded batch into the front of those buffers, sets
the input shapes and runs the engine. torch supplies the CUDA memory and stream, so neither pycuda nor
cuda-python is needed.

Batches larger than the profile's max batch are split. A sequence longer than the profile's max is
rejected, because the engine was built for the encoder's max_length and truncation happens before
the backend.

NOTE: never run on a GPU in this repository yet; the batching and profile checks are tested on CPU.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import SotriageError
from .base import Backend, ModelFiles, register_backend
from .engine_cache import EngineIdentity, engine_dir_for, file_sha256, find_engine
from .gpu import cuda_device_name, import_tensorrt, require_backend

log = logging.getLogger(__name__)

QDQ_MODEL_NAME = "model-qdq.onnx"


def rebuild_command(files: ModelFiles, precision: str) -> str:
    return f"sotriage export {files.onnx_dir.parent} --tensorrt {precision}"


def engine_source(files: ModelFiles, precision: str) -> Path:
    """Return the ONNX file an engine of `precision` is parsed from: model.onnx, or the Q/DQ model for int8."""
    if precision == "int8":
        return engine_dir_for(files.onnx_dir) / QDQ_MODEL_NAME
    return files.onnx_unfused


def current_identity(files: ModelFiles, precision: str) -> EngineIdentity:
    """Return the identity an engine needs to run here: this model file, TensorRT version and GPU."""
    trt = import_tensorrt()
    source = files.require(engine_source(files, precision), f"Create it with: {rebuild_command(files, precision)}")
    return EngineIdentity(file_sha256(source), precision, trt.__version__, cuda_device_name() or "none")


def find_engine_for(files: ModelFiles, precision: str) -> Path:
    identity = current_identity(files, precision)
    return find_engine(engine_dir_for(files.onnx_dir), identity, rebuild_command(files, precision))


def split_for_profile(batch: int, seq: int, max_batch: int, max_seq: int) -> list[slice]:
    """Return row slices of at most `max_batch` rows; reject a sequence longer than `max_seq`."""
    if seq > max_seq:
        raise SotriageError(
            f"input sequence length {seq} exceeds the TensorRT engine's max {max_seq}. The engine was built for "
            f"max_length {max_seq}; rebuild it with the encoder's max_length (sotriage export RUN --tensorrt ...)."
        )
    return [slice(start, min(start + max_batch, batch)) for start in range(0, batch, max_batch)]


def _torch_dtype(trt, trt_dtype):
    import torch

    mapping = {
        trt.DataType.FLOAT: torch.float32,
        trt.DataType.HALF: torch.float16,
        trt.DataType.INT32: torch.int32,
        trt.DataType.INT64: torch.int64,
        trt.DataType.BOOL: torch.bool,
    }
    if trt_dtype not in mapping:
        raise SotriageError(f"the TensorRT engine has an I/O tensor of type {trt_dtype}, which this backend does not support")
    return mapping[trt_dtype]


class TensorRTBackend(Backend):
    def __init__(self, plan_path: Path, name: str):
        import torch

        trt = import_tensorrt()
        self.name = name
        self.torch = torch
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(Path(plan_path).read_bytes())
        if self.engine is None:
            raise SotriageError(f"TensorRT could not deserialize {plan_path}. Delete it and rebuild the engine.")
        self.context = self.engine.create_execution_context()
        self.stream = torch.cuda.Stream()

        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input_names = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if n not in self.input_names]
        if outputs != ["logits"]:
            raise SotriageError(f"{plan_path}: expected one output named 'logits', found {outputs}")
        # Profile 0: (min, opt, max) shapes, each (batch, seq); every input shares them.
        _, _, max_shape = self.engine.get_tensor_profile_shape(self.input_names[0], 0)
        self.max_batch, self.max_seq = int(max_shape[0]), int(max_shape[1])
        self.num_labels = int(self.engine.get_tensor_shape("logits")[1])
        self._allocate(trt)

    def _allocate(self, trt) -> None:
        torch = self.torch
        device = torch.device("cuda")
        self.buffers = {}
        for name in self.input_names:
            dtype = _torch_dtype(trt, self.engine.get_tensor_dtype(name))
            self.buffers[name] = torch.zeros(self.max_batch * self.max_seq, dtype=dtype, device=device)
        output_dtype = _torch_dtype(trt, self.engine.get_tensor_dtype("logits"))
        self.buffers["logits"] = torch.zeros(self.max_batch * self.num_labels, dtype=output_dtype, device=device)
        # A (batch, seq) view of the front of a flat buffer starts at the same address, so the
        # addresses are bound once and only the input shapes change per call.
        for name, buffer in self.buffers.items():
            self.context.set_tensor_address(name, buffer.data_ptr())

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        missing = [name for name in self.input_names if name not in inputs]
        if missing:
            raise SotriageError(f"the TensorRT engine needs inputs {missing}, which the batch lacks")
        batch, seq = inputs[self.input_names[0]].shape
        parts = [self._run(inputs, rows, seq) for rows in split_for_profile(batch, seq, self.max_batch, self.max_seq)]
        return np.concatenate(parts, axis=0)

    def _run(self, inputs: dict[str, np.ndarray], rows: slice, seq: int) -> np.ndarray:
        torch = self.torch
        batch = rows.stop - rows.start
        with torch.cuda.stream(self.stream):
            for name in self.input_names:
                view = self.buffers[name][: batch * seq].view(batch, seq)
                view.copy_(torch.from_numpy(np.ascontiguousarray(inputs[name][rows])))
                self.context.set_input_shape(name, (batch, seq))
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise SotriageError(f"TensorRT execution failed for a batch of shape ({batch}, {seq})")
            logits = self.buffers["logits"][: batch * self.num_labels].view(batch, self.num_labels).float().cpu()
        self.stream.synchronize()
        return logits.numpy()

    def close(self) -> None:
        self.context = None
        self.engine = None
        self.buffers = {}


def open_engine_backend(files: ModelFiles, precision: str) -> TensorRTBackend:
    name = f"tensorrt-{precision}"
    require_backend(name)
    plan = find_engine_for(files, precision)
    log.info("%s: loading engine %s", name, plan)
    return TensorRTBackend(plan, name)


@register_backend("tensorrt-fp16")
def _fp16(files: ModelFiles, threads: int | None) -> Backend:
    return open_engine_backend(files, "fp16")


@register_backend("tensorrt-int8")
def _int8(files: ModelFiles, threads: int | None) -> Backend:
    return open_engine_backend(files, "int8")
