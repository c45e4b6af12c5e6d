"""`sotriage export RUN --tensorrt fp16|int8`: data-driven profile, Q/DQ model, engine, parity gate.

Steps per precision:
  1. token lengths of the run's validation questions -> optimization profile (`profile_shapes`);
  2. int8 only: Q/DQ model of model.onnx calibrated on real training questions, checked in ONNX
     Runtime on the CPU against PyTorch FP32 before any GPU time is spent;
  3. engine build, then parity of the engine against PyTorch FP32 (CPU) on validation questions:
     argmax agreement gate plus the accuracy drop, as the CPU export reports them;
  4. the Q/DQ model, the sidecar and the .plan move into RUN/tensorrt only when the gate passes.

NOTE: steps 3-4 have never run on a GPU in this repository yet.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..data.dataset import LabelledQuestions, load_dataset
from ..data.schema import Question
from ..errors import ParityError, SotriageError
from ..io import read_json, write_json
from ..run_dir import RunDir
from ..runtime.base import ModelFiles
from ..runtime.classifier import Classifier
from ..runtime.engine_cache import EngineIdentity, engine_dir_for, engine_paths, file_sha256, sidecar_record
from ..runtime.gpu import cuda_device_name, import_tensorrt, parity_report, require_backend
from ..runtime.model_ref import ResolvedModel
from ..runtime.onnx_backend import OnnxBackend
from ..runtime.tensorrt_backend import QDQ_MODEL_NAME, TensorRTBackend
from .pipeline import parity_questions
from .qdq import QdqConfig, QuestionCalibrationReader, quantize_qdq
from .tensorrt import EngineBuildConfig, build_config_record, build_engine, profile_shapes

log = logging.getLogger(__name__)


@dataclass
class TensorRTExportConfig:
    precisions: tuple[str, ...]
    max_batch: int = 64
    max_length: int | None = None  # profile's max sequence length; default the encoder's max_length
    opt_percentile: float = 75.0
    profile_examples: int = 2000  # validation questions whose token lengths set the profile
    parity_examples: int = 256
    fp16_min_agreement: float = 0.99
    int8_min_agreement: float = 0.95
    max_drop_points: float | None = 0.3  # accuracy points an engine may lose against PyTorch FP32; None: no limit
    workspace_gib: float = 4.0
    strongly_typed: bool | None = None
    threads: int | None = None
    qdq: QdqConfig = field(default_factory=QdqConfig)

    def __post_init__(self) -> None:
        unknown = [p for p in self.precisions if p not in ("fp16", "int8")]
        if unknown or not self.precisions:
            raise SotriageError(f"invalid --tensorrt {', '.join(unknown) or '(none)'}: use fp16 or int8 (repeat the option for both)")
        if self.max_batch < 1:
            raise SotriageError(f"invalid --trt-max-batch {self.max_batch}: use 1 or more, e.g. 64")
        if self.profile_examples < 1 or self.parity_examples < 1:
            raise SotriageError("invalid example counts: profile and parity examples must be 1 or more")
        for name in ("fp16_min_agreement", "int8_min_agreement"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise SotriageError(f"invalid {name} {value}: use a fraction in [0, 1]")


def check_prerequisites(precisions) -> None:
    """Fail before the ONNX export when this machine cannot build engines (no CUDA or TensorRT)."""
    for precision in precisions:
        require_backend(f"tensorrt-{precision}")


def calibration_questions(run: RunDir | None, n: int, seed: int = 0):
    """Return a seeded random sample of `n` real training questions of the run's dataset.

    Without the run's dataset, the bundled synthetic sample is used with a warning, because
    calibration ranges from synthetic questions may not match real ones.
    """
    if run is not None and run.split.is_file():
        data_dir = Path(read_json(run.split)["data_dir"])
        if (data_dir / "dataset.json").is_file():
            train = load_dataset(data_dir).split("train")
            picks = np.random.default_rng(seed).choice(len(train), size=min(n, len(train)), replace=False)
            return [train.questions[i] for i in sorted(picks)]
        log.warning("dataset %s of this run not found; calibrating on the bundled synthetic sample", data_dir)
    else:
        log.warning("no run dataset; calibrating INT8 on the bundled synthetic sample")
    from ..demo_data import sample_questions

    return sample_questions().head(n).questions


def build_tensorrt_engines(resolved: ResolvedModel, run: RunDir | None, config: TensorRTExportConfig,
                           validation: LabelledQuestions | None = None, calibration: list[Question] | None = None) -> dict:
    """Build, check and cache one engine per precision in `config`; return the report.

    Engines go to the folder beside `resolved.files.onnx_dir`. `validation` (profile and parity
    questions) and `calibration` default to the run's validation split and a sample of its
    training split.
    """
    files = resolved.files
    reference = Classifier.from_resolved(resolved, backend="torch", threads=config.threads)
    encoder = reference.encoder

    if validation is None:
        validation = parity_questions(run, max(config.profile_examples, config.parity_examples))
    lengths = [len(item) for item in encoder.encode(validation.questions[: config.profile_examples])]
    max_length = config.max_length or encoder.config.max_length
    profile = profile_shapes(lengths, max_length, config.max_batch, opt_percentile=config.opt_percentile)
    parity = validation.head(config.parity_examples)
    encoded = encoder.encode(parity.questions)
    labels = np.asarray(parity.labels)
    reference_logits = reference.logits_for_encoded(encoded)
    report = {
        "token_lengths": {f"p{q}": float(np.percentile(lengths, q)) for q in (50, 75, 90, 99)} | {"n": len(lengths)},
        "profile": profile.to_dict(), "parity_examples": len(encoded), "engines": {},
    }

    engine_dir = engine_dir_for(files.onnx_dir)
    engine_dir.mkdir(parents=True, exist_ok=True)
    for precision in config.precisions:
        with tempfile.TemporaryDirectory(prefix=".build-", dir=engine_dir) as work:
            context = _BuildContext(files, run, encoder, Path(work), encoded, labels, reference_logits,
                                    resolved.label_names, calibration)
            report["engines"][precision] = _build_one(context, precision, profile, config)
    return report


@dataclass
class _BuildContext:
    files: ModelFiles
    run: RunDir | None
    encoder: object
    work_dir: Path
    encoded: list
    labels: np.ndarray
    reference_logits: np.ndarray
    label_names: list[str]
    calibration: list[Question] | None


def _build_one(context: _BuildContext, precision: str, profile, config: TensorRTExportConfig) -> dict:
    files, work = context.files, context.work_dir
    entry: dict = {}
    source = files.require(files.onnx_unfused, f"Create it with: sotriage export {files.onnx_dir.parent}")
    if precision == "int8":
        source = work / QDQ_MODEL_NAME
        entry["qdq"] = _build_qdq(context, source, config)

    trt = import_tensorrt()
    identity = EngineIdentity(file_sha256(source), precision, trt.__version__, cuda_device_name() or "none")
    build_config = EngineBuildConfig(precision=precision, profile=profile, workspace_gib=config.workspace_gib,
                                     strongly_typed=config.strongly_typed)
    work_plan = work / "engine.plan"
    entry["build"] = build_engine(source, work_plan, build_config, work)

    backend = TensorRTBackend(work_plan, f"tensorrt-{precision}")
    try:
        logits = Classifier(context.encoder, backend, context.label_names).logits_for_encoded(context.encoded)
    finally:
        backend.close()
    entry["parity"] = parity_report(context.reference_logits, logits, context.labels)
    minimum = config.fp16_min_agreement if precision == "fp16" else config.int8_min_agreement
    _gate(f"TensorRT {precision}", entry["parity"], minimum, len(context.encoded), config.max_drop_points)

    plan, sidecar = engine_paths(engine_dir_for(files.onnx_dir), identity)
    write_json(work / "sidecar.json", sidecar_record(
        identity, profile=profile.to_dict(), build=entry["build"], build_config=build_config_record(build_config),
        parity=entry["parity"], qdq=entry.get("qdq"), tensorrt_config=_config_record(config),
    ))
    # Q/DQ model first: an older int8 engine then no longer matches its source and is rejected.
    if precision == "int8":
        os.replace(source, engine_dir_for(files.onnx_dir) / QDQ_MODEL_NAME)
    os.replace(work / "sidecar.json", sidecar)
    os.replace(work_plan, plan)
    entry["plan"] = str(plan)
    log.info("tensorrt-%s: %s", precision, entry["parity"])
    return entry


def _build_qdq(context: _BuildContext, out: Path, config: TensorRTExportConfig) -> dict:
    """Quantize model.onnx to Q/DQ and check it in ONNX Runtime (CPU) against PyTorch FP32."""
    files, encoder = context.files, context.encoder
    questions = context.calibration or calibration_questions(context.run, config.qdq.calibration_examples)
    reader = QuestionCalibrationReader(encoder.encode(questions), encoder.pad_id, config.qdq.calibration_batch_size,
                                       _onnx_input_names(files.onnx_unfused))
    info = quantize_qdq(files.onnx_unfused, out, reader, config.qdq)
    info["calibration_questions"] = len(questions)

    backend = OnnxBackend(out, config.threads, name="onnx-qdq")
    try:
        logits = Classifier(encoder, backend, context.label_names).logits_for_encoded(context.encoded)
    finally:
        backend.close()
    info["onnxruntime_cpu_parity"] = parity_report(context.reference_logits, logits, context.labels)
    _gate("the Q/DQ model in ONNX Runtime (CPU)", info["onnxruntime_cpu_parity"], config.qdq.min_agreement, len(context.encoded))
    return info


def _gate(what: str, entry: dict, minimum: float, n: int, max_drop_points: float | None = None) -> None:
    """Raise ParityError when argmax agreement or the accuracy drop misses the CPU export's gate."""
    drop = entry.get("accuracy_drop")
    drop_text = f", {drop * 100:.2f} accuracy points lost" if drop is not None else ""
    # NOTE: quantization-aware fine-tuning, the usual fix for INT8 losing too much, is not implemented.
    advice = ("Nothing was written. For int8 try --calibration entropy or fewer --qdq-quantize parts, or use tensorrt-fp16; "
              "lower the limits (--int8-min-agreement, --trt-fp16-min-agreement, --int8-max-drop) to accept it.")
    if entry["argmax_agreement"] < minimum:
        raise ParityError(f"{what} agrees with PyTorch FP32 on only {entry['argmax_agreement']:.1%} of {n} validation "
                          f"questions (minimum {minimum:.0%}){drop_text}. {advice}")
    # A small epsilon: drops are multiples of 100/n points and must not fail on rounding.
    if max_drop_points is not None and drop is not None and drop * 100 > max_drop_points + 1e-9:
        raise ParityError(f"{what} loses {drop * 100:.2f} accuracy points against PyTorch FP32 on {n} validation questions "
                          f"(limit {max_drop_points:.2f}). {advice}")


def _onnx_input_names(path: Path) -> list[str]:
    import onnx

    return [value.name for value in onnx.load(str(path), load_external_data=False).graph.input]


def _config_record(config: TensorRTExportConfig) -> dict:
    record = asdict(config)
    record["precisions"] = list(config.precisions)
    return record
