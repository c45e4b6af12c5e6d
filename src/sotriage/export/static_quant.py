"""INT8 static quantization of the fused ONNX graph, calibrated on real training questions.

Static quantization fixes every activation's scale and zero point ahead of time from calibration
data, where dynamic quantization computes them per batch at run time. The calibration data here
is a seeded random sample of the run's training questions, encoded with the model's own
QuestionEncoder. It is fed in length-sorted batches, padded like the batches at inference.

ONNX Runtime 1.32's static quantizer has no rule for the fused `Attention` contrib operator: its
QAttention rule is registered for dynamic (IntegerOps) mode only, so `quantize_static` leaves
every fused Attention node, and its Q/K/V projection, in FP32. With `quantize_attention=True`
(the default) the static graph is therefore passed through `quantize_dynamic` restricted to the
Attention nodes, which turns them into QAttention. Everything else keeps the calibrated scales.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import onnx

from ..data.dataset import LabelledQuestions, load_dataset
from ..encoding import Encoded, length_sorted_batches, pad_batch
from ..errors import SotriageError
from ..io import atomic_path, read_json
from ..run_dir import RunDir

log = logging.getLogger(__name__)

QUANT_FORMATS = ("qdq", "qoperator")
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
ACTIVATION_TYPES = ("uint8", "int8")


@dataclass
class StaticQuantConfig:
    """Settings of `quantize_static`; the defaults are the best measured on MiniLM (docs/performance.md)."""

    calibration_questions: int = 256
    calibration_batch_size: int = 32
    quant_format: str = "qdq"
    per_channel: bool = True
    calibration_method: str = "minmax"
    activation_type: str = "uint8"
    # Quantize the fused Attention nodes dynamically (QAttention); the static quantizer skips them.
    quantize_attention: bool = True
    percentile: float = 99.999
    seed: int = 0

    def __post_init__(self) -> None:
        if self.calibration_questions < 1:
            raise SotriageError(f"invalid --static-calibration-questions {self.calibration_questions}: use 1 or more (256 is the default)")
        if self.calibration_batch_size < 1:
            raise SotriageError(f"invalid calibration_batch_size {self.calibration_batch_size}: use 1 or more")
        if self.quant_format not in QUANT_FORMATS:
            raise SotriageError(f"invalid quant_format {self.quant_format!r}: use one of {', '.join(QUANT_FORMATS)}")
        if self.calibration_method not in CALIBRATION_METHODS:
            raise SotriageError(f"invalid --static-calibration-method {self.calibration_method!r}: use one of {', '.join(CALIBRATION_METHODS)}")
        if self.activation_type not in ACTIVATION_TYPES:
            raise SotriageError(f"invalid activation_type {self.activation_type!r}: use one of {', '.join(ACTIVATION_TYPES)}")
        if not 50 < self.percentile <= 100:
            raise SotriageError(f"invalid percentile {self.percentile}: use a value in (50, 100], such as 99.999")

    def to_dict(self) -> dict:
        return asdict(self)


# --- the run's data ---------------------------------------------------------------------------

def run_split(run: RunDir | None, split: str) -> LabelledQuestions | None:
    """Return the `split` of the dataset this run was trained on, or None when it cannot be found."""
    if run is None or not run.split.is_file():
        return None
    data_dir = Path(read_json(run.split)["data_dir"])  # training records it as an absolute path
    if not (data_dir / "dataset.json").is_file():
        log.warning("dataset %s of run %s not found", data_dir, run.root)
        return None
    return load_dataset(data_dir).split(split)


def sample_questions(labelled: LabelledQuestions, n: int, seed: int) -> LabelledQuestions:
    """Return a seeded random sample of `n` questions, kept in file order (all of them when n >= len)."""
    if n >= len(labelled):
        return labelled
    rng = np.random.default_rng(seed)
    index = np.sort(rng.choice(len(labelled), size=n, replace=False))
    return LabelledQuestions([labelled.questions[i] for i in index], [labelled.labels[i] for i in index])


def calibration_questions(run: RunDir | None, n: int, seed: int = 0) -> LabelledQuestions:
    """Return `n` training questions of the run for calibration, or raise naming what is missing."""
    train = run_split(run, "train")
    if train is None or len(train) == 0:
        where = run.root if run is not None else "(no run folder)"
        raise SotriageError(
            f"static INT8 needs the run's training questions for calibration, but the dataset of {where} "
            "was not found (split.json names it in data_dir). Restore the dataset folder, or export without --static-int8."
        )
    return sample_questions(train, n, seed)


# --- calibration -----------------------------------------------------------------------------

def model_input_names(model_path: str | Path) -> list[str]:
    model = onnx.load(str(model_path), load_external_data=False)
    initializers = {init.name for init in model.graph.initializer}
    return [value.name for value in model.graph.input if value.name not in initializers]


def padded_batches(encoded: Sequence[Encoded], pad_id: int, batch_size: int, input_names: Sequence[str]) -> list[dict[str, np.ndarray]]:
    """Pad length-sorted batches of `encoded`, keeping only the inputs the graph declares."""
    batches = []
    for index in length_sorted_batches([len(item) for item in encoded], batch_size):
        inputs = pad_batch([encoded[i] for i in index], pad_id)  # (batch, seq) each
        batches.append({name: inputs[name] for name in input_names})
    return batches


def _calibration_reader(batches: list[dict[str, np.ndarray]]):
    from onnxruntime.quantization import CalibrationDataReader

    class BatchReader(CalibrationDataReader):
        """Feed a fixed list of padded batches to an ONNX Runtime calibrator, then None."""

        def __init__(self) -> None:
            self._iterator = iter(batches)

        def get_next(self):
            return next(self._iterator, None)

    return BatchReader()


def _calibration_method(name: str):
    from onnxruntime.quantization import CalibrationMethod

    return {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile}[name]


def calibrate(fused_path: str | Path, batches: list[dict[str, np.ndarray]], config: StaticQuantConfig,
              cache_path: str | Path) -> Path:
    """Run calibration over `batches` and save the tensor ranges to `cache_path` (ONNX Runtime's JSON cache).

    Each batch goes to the calibrator in its own `collect_data` call. The histogram calibrators
    stack all outputs collected in one call into one array, which fails for batches of different
    sequence lengths. One batch per call also bounds memory to one batch's activations.
    """
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    _require_calibration_cache()
    op_types = sorted(set(QLinearOpsRegistry) | set(QDQRegistry))
    options = {}
    if config.calibration_method == "percentile":
        options["percentile"] = config.percentile
    with tempfile.TemporaryDirectory(prefix="sotriage-calibration-") as work:
        calibrator = create_calibrator(
            Path(fused_path), op_types, augmented_model_path=str(Path(work) / "augmented.onnx"),
            calibrate_method=_calibration_method(config.calibration_method), extra_options=options,
        )
        # The histogram calibrators print to stdout on every call; keep the CLI output clean.
        with contextlib.redirect_stdout(io.StringIO()):
            for batch in _progress(batches, "calibrating"):
                calibrator.collect_data(_calibration_reader([batch]))
            tensors_range = calibrator.compute_data()
    save_tensors_data(tensors_range, Path(cache_path))
    log.info("calibrated %s on %d batches (%s)", fused_path, len(batches), config.calibration_method)
    return Path(cache_path)


def _require_calibration_cache() -> None:
    import onnxruntime
    from onnxruntime.quantization import quantize_static

    if "calibration_cache_path" not in inspect.signature(quantize_static).parameters:
        raise SotriageError(
            f"onnxruntime {onnxruntime.__version__} cannot reuse calibration results (quantize_static has no "
            "calibration_cache_path); static INT8 needs it. Upgrade onnxruntime (1.32 has it): pip install -U onnxruntime"
        )


def _progress(items, description: str):
    from tqdm.auto import tqdm

    return tqdm(items, desc=description, unit="batch", leave=False, disable=len(items) < 4)


# --- quantization ----------------------------------------------------------------------------

def infer_shapes(fused_path: str | Path, out_path: str | Path) -> Path:
    """Write `fused_path` with the types and shapes of every intermediate tensor annotated.

    ONNX's own shape inference does not know the com.microsoft operators of the fused graph
    (Attention, SkipLayerNormalization, ...), so without ONNX Runtime's symbolic shape inference the
    calibrator finds no typed intermediate tensor and calibrates only the logits. The graph itself
    and its node names stay as they are.
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with atomic_path(out_path) as tmp:
        quant_pre_process(str(fused_path), str(tmp), skip_optimization=True)
    return Path(out_path)


def quantize_static_int8(fused_path: str | Path, out_path: str | Path, calibration_cache: str | Path,
                         config: StaticQuantConfig, nodes_to_exclude: Sequence[str] = ()) -> Path:
    """Quantize `fused_path` with the calibrated ranges in `calibration_cache`; write `out_path` atomically.

    `nodes_to_exclude` names nodes of the fused graph that stay FP32, whichever quantizer would touch them.
    """
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    activation = QuantType.QUInt8 if config.activation_type == "uint8" else QuantType.QInt8
    quant_format = QuantFormat.QDQ if config.quant_format == "qdq" else QuantFormat.QOperator
    excluded = list(nodes_to_exclude)
    with atomic_path(out_path) as tmp:
        with quiet_quantizer():
            quantize_static(
                str(fused_path), str(tmp),
                calibration_data_reader=None,
                calibration_cache_path=str(calibration_cache),
                quant_format=quant_format,
                per_channel=config.per_channel,
                activation_type=activation,
                weight_type=QuantType.QInt8,
                calibrate_method=_calibration_method(config.calibration_method),
                nodes_to_exclude=excluded,
                # The fused graph has contrib operators whose outputs shape inference cannot type.
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        if config.quantize_attention:
            quantize_attention_dynamic(tmp, excluded, config.per_channel)
    log.info("static INT8 %s (%s, %s, per_channel=%s, excluded %d nodes)", out_path, config.quant_format,
             config.calibration_method, config.per_channel, len(excluded))
    return Path(out_path)


def quantize_attention_dynamic(path: Path, nodes_to_exclude: Sequence[str], per_channel: bool) -> None:
    """Rewrite the fused Attention nodes of the model at `path` (in place) as dynamic QAttention."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(path))
    if not any(node.op_type == "Attention" and node.name not in nodes_to_exclude for node in model.graph.node):
        return
    with atomic_path(path) as tmp, quiet_quantizer():
        quantize_dynamic(
            str(path), str(tmp),
            op_types_to_quantize=["Attention"],
            weight_type=QuantType.QInt8,
            per_channel=per_channel,
            nodes_to_exclude=list(nodes_to_exclude),
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )


@contextlib.contextmanager
def quiet_quantizer():
    """Silence the root-logger warnings of ONNX Runtime's quantizers for the duration of the block.

    They log a pre-processing hint on every call, which does not apply to the already optimized
    fused graph, and the gate quantizes many times.
    """
    # A filter on the root logger sees only records logged on it directly (the quantizers call
    # logging.warning), not the records that sotriage's own loggers propagate to it.
    root = logging.getLogger()
    errors_only = lambda record: record.levelno >= logging.ERROR  # noqa: E731
    root.addFilter(errors_only)
    try:
        yield
    finally:
        root.removeFilter(errors_only)


def quantized_operator_counts(path: str | Path) -> dict[str, int]:
    """Count the quantized operators of an ONNX file (QuantizeLinear, QLinear*, QAttention, ...)."""
    model = onnx.load(str(path), load_external_data=False)
    counts: dict[str, int] = {}
    for node in model.graph.node:
        op = node.op_type
        if op in ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger",
                  "QAttention", "QEmbedLayerNormalization", "QGemm", "DynamicQuantizeMatMul") or op.startswith("QLinear"):
            counts[op] = counts.get(op, 0) + 1
    return dict(sorted(counts.items()))


def prepare_static_int8(fused_path: str | Path, encoder, run: RunDir | None, config: StaticQuantConfig,
                        work_dir: str | Path) -> tuple[Path, Path, dict]:
    """Annotate shapes and calibrate on the run's training questions, ready for `quantize_static_int8`.

    Returns the shape-annotated fused graph and the calibration cache (both in `work_dir`, so that
    the accuracy gate can quantize many times from one calibration) and a record of the calibration
    for onnx/quantization.json.
    """
    questions = calibration_questions(run, config.calibration_questions, config.seed)
    encoded = encoder.encode(questions.questions)
    batches = padded_batches(encoded, encoder.pad_id, config.calibration_batch_size, model_input_names(fused_path))
    typed = infer_shapes(fused_path, Path(work_dir) / "model-fused-typed.onnx")
    cache = calibrate(typed, batches, config, Path(work_dir) / "calibration.json")
    record = {
        "split": "train",
        "questions": len(encoded),
        "batches": len(batches),
        "mean_tokens": round(float(np.mean([len(item) for item in encoded])), 1),
    }
    return typed, cache, record


def static_op_types(config: StaticQuantConfig) -> list[str]:
    """Operator types that `quantize_static_int8` may quantize with `config`."""
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    registry = QDQRegistry if config.quant_format == "qdq" else QLinearOpsRegistry
    return sorted(set(registry) | ({"Attention"} if config.quantize_attention else set()))
