"""What the machine can do at best, and what a BERT encoder costs, so results read as a share of peak.

The ceilings are measured in the same run as the results, with the benchmark's thread count. Each
is one large GEMM of the shape that dominates BERT-base (4096 tokens x 768 by 768 x 3072, the
feed-forward up-projection). ONNX Runtime runs it in FP32 (MatMul) and in INT8 (MatMulInteger with
uint8 activations and int8 weights, the combination its dynamic quantization uses). torch.mm runs
it in FP32. When OpenVINO is installed, OpenVINO runs it at the precision its backend picks (bf16
on CPUs with native bf16).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

import numpy as np

GEMM_SHAPE = (4096, 768, 3072)  # M x K by K x N: 4096 tokens through BERT-base's feed-forward up-projection
GEMM_REPEATS = 5
COST_FORMULA = ("FLOPs per sequence of padded length s = layers * s * (2 * (4*h*h + 2*h*ffn) + 4*s*h): "
                "the Q, K, V, output and two feed-forward matmuls (2 FLOPs per multiply-add), plus QK^T "
                "and attention x V (2*s*h each). Embeddings, softmax, layer norms and the classifier head "
                "are left out (under 2% for BERT-base at s=128).")


@dataclass
class CostModel:
    """FLOPs of a BERT encoder forward pass, from its config (see COST_FORMULA)."""

    hidden_size: int
    num_layers: int
    intermediate_size: int

    @property
    def matmul_parameters(self) -> int:
        h, ffn = self.hidden_size, self.intermediate_size
        return self.num_layers * (4 * h * h + 2 * h * ffn)

    def flops(self, length: int | np.ndarray) -> np.ndarray | float:
        """FLOPs of one sequence of `length` tokens (a padded length when the padding is computed)."""
        h, ffn = self.hidden_size, self.intermediate_size
        s = np.asarray(length, dtype=np.float64)
        return self.num_layers * s * (2 * (4 * h * h + 2 * h * ffn) + 4 * s * h)

    def batch_flops(self, rows: int, padded_length: int) -> float:
        return float(rows * self.flops(padded_length))

    def to_dict(self) -> dict:
        return {**asdict(self), "matmul_parameters": self.matmul_parameters, "formula": COST_FORMULA,
                "flops_per_token_at_128": float(self.flops(128) / 128)}


def measure_ceilings(threads: int, shape: tuple[int, int, int] = GEMM_SHAPE, repeats: int = GEMM_REPEATS) -> dict:
    """Return the ORT FP32, ORT INT8 and torch FP32 GEMM rates in GFLOP/s (GOP/s for INT8)."""
    m, k, n = shape
    operations = 2.0 * m * k * n
    results = {}
    for name, measure in (("ort_fp32", _ort_fp32), ("ort_int8", _ort_int8), ("torch_fp32", _torch_fp32)):
        seconds = measure(shape, threads, repeats)
        results[name] = {"gflop_per_s": round(operations / seconds / 1e9, 1), "median_ms": round(seconds * 1e3, 2)}
    openvino = _openvino(shape, threads, repeats)
    if openvino is not None:
        seconds, precision = openvino
        results["openvino"] = {"gflop_per_s": round(operations / seconds / 1e9, 1), "median_ms": round(seconds * 1e3, 2),
                               "precision": precision}
    results["shape"] = f"{m}x{k} by {k}x{n}"
    results["method"] = f"median of {repeats} runs after 2 warm-up runs, {threads} threads"
    return results


def _median_seconds(run, repeats: int) -> float:
    for _ in range(2):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _ort_session(model, threads: int):
    import onnxruntime as ort

    from ..runtime.onnx_backend import session_options

    return ort.InferenceSession(model.SerializeToString(), session_options(threads), providers=["CPUExecutionProvider"])


def _ort_fp32(shape, threads: int, repeats: int) -> float:
    m, k, n = shape
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((k, n), dtype=np.float32)
    session = _ort_session(_matmul_graph("MatMul", np.float32, weights, m, k), threads)
    activations = rng.standard_normal((m, k), dtype=np.float32)
    return _median_seconds(lambda: session.run(None, {"a": activations}), repeats)


def _ort_int8(shape, threads: int, repeats: int) -> float:
    m, k, n = shape
    rng = np.random.default_rng(0)
    weights = rng.integers(-127, 128, size=(k, n), dtype=np.int8)
    session = _ort_session(_matmul_graph("MatMulInteger", np.uint8, weights, m, k), threads)
    activations = rng.integers(0, 256, size=(m, k), dtype=np.uint8)
    return _median_seconds(lambda: session.run(None, {"a": activations}), repeats)


def _torch_fp32(shape, threads: int, repeats: int) -> float:
    import torch

    m, k, n = shape
    torch.set_num_threads(threads)
    a = torch.randn(m, k)
    b = torch.randn(k, n)
    with torch.inference_mode():
        return _median_seconds(lambda: torch.mm(a, b), repeats)


def _openvino(shape, threads: int, repeats: int) -> tuple[float, str] | None:
    """Time the GEMM with OpenVINO's CPU plugin at the backend's default precision; None without OpenVINO."""
    try:
        import openvino
        import openvino.opset13 as ops

        from ..runtime.openvino_backend import default_precision
    except ImportError:
        return None
    m, k, n = shape
    rng = np.random.default_rng(0)
    core = openvino.Core()
    precision = default_precision(core)
    activations = ops.parameter([m, k], openvino.Type.f32, name="a")
    product = ops.matmul(activations, ops.constant(rng.standard_normal((k, n), dtype=np.float32)), False, False)
    compiled = core.compile_model(openvino.Model([product], [activations], "matmul-ceiling"), "CPU",
                                  {"INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": threads,
                                   "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    feed = {"a": rng.standard_normal((m, k), dtype=np.float32)}
    return _median_seconds(lambda: request.infer(feed), repeats), precision


def _matmul_graph(op: str, input_dtype, weights: np.ndarray, m: int, k: int):
    """Build a one-node graph: output = op(a (m, k), weights (k, n)) with the weights as an initializer."""
    from onnx import TensorProto, helper, numpy_helper

    element_type = {np.float32: TensorProto.FLOAT, np.uint8: TensorProto.UINT8}[input_dtype]
    output_type = TensorProto.FLOAT if op == "MatMul" else TensorProto.INT32
    n = weights.shape[1]
    graph = helper.make_graph(
        [helper.make_node(op, ["a", "b"], ["y"])],
        f"{op.lower()}-ceiling",
        [helper.make_tensor_value_info("a", element_type, [m, k])],
        [helper.make_tensor_value_info("y", output_type, [m, n])],
        initializer=[numpy_helper.from_array(weights, "b")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def precision_of(backend: str) -> str:
    """Return which ceiling a backend is compared with: "int8" for INT8 graphs, else "fp32"."""
    return "int8" if "int8" in backend else "fp32"


def ceiling_for(backend: str, ceilings: dict) -> tuple[str, float] | None:
    """Return (ceiling name, GFLOP/s) that `backend`'s achieved rate is divided by."""
    if backend == "torch":
        name = "torch_fp32"
    elif backend == "openvino" and "openvino" in ceilings:
        name = "openvino"
    elif precision_of(backend) == "int8":
        name = "ort_int8"
    else:
        name = "ort_fp32"
    if name not in ceilings:
        return None
    return name, ceilings[name]["gflop_per_s"]
