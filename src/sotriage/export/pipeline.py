"""`sotriage export`: ONNX, fusions, INT8, then parity of every file against PyTorch.

All files are built in a temporary folder that replaces RUN_DIR/onnx only when every parity check
passes, so a failed export never leaves files that `evaluate` or `serve` would pick up.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..data.dataset import load_dataset
from ..errors import ParityError, SotriageError
from ..evaluation.metrics import agreement
from ..io import atomic_dir, read_json, write_json
from ..run_dir import RunDir
from ..runtime.base import ModelFiles
from ..runtime.classifier import Classifier
from ..runtime.model_ref import resolve_model
from ..runtime.onnx_backend import OnnxBackend
from .fusion import fuse_bert
from .onnx_export import export_onnx
from .quantize import quantize_dynamic_int8

log = logging.getLogger(__name__)


@dataclass
class ExportConfig:
    parity_examples: int = 256
    fp32_tolerance: float = 1e-3  # max |logit difference| of the fused FP32 graph against PyTorch
    int8_min_agreement: float = 0.95  # argmax agreement of INT8 with PyTorch FP32
    per_channel: bool = True
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.parity_examples < 1:
            raise SotriageError(f"invalid --parity-examples {self.parity_examples}: use 1 or more")
        if self.fp32_tolerance <= 0:
            raise SotriageError(f"invalid --fp32-tolerance {self.fp32_tolerance}: use a positive number such as 1e-3")
        if not 0 <= self.int8_min_agreement <= 1:
            raise SotriageError(f"invalid --int8-min-agreement {self.int8_min_agreement}: use a fraction in [0, 1]")


def parity_questions(run: RunDir | None, n: int):
    """Real validation questions of the run's dataset, or the bundled sample when there is none."""
    if run is not None and run.split.is_file():
        data_dir = Path(read_json(run.split)["data_dir"])
        if (data_dir / "dataset.json").is_file():
            return load_dataset(data_dir).split("validation").head(n)
        log.warning("dataset %s of this run not found; checking parity on the bundled sample", data_dir)
    from ..demo_data import sample_questions

    return sample_questions().head(n)


def export_model(model_dir: Path, onnx_dir: Path, run: RunDir | None, config: ExportConfig) -> dict:
    """Build model.onnx, model-fused.onnx and model-int8.onnx in `onnx_dir`; return the parity report."""
    from transformers import AutoConfig

    hf_config = AutoConfig.from_pretrained(str(model_dir))
    resolved = resolve_model(model_dir)
    questions = parity_questions(run, config.parity_examples)

    with atomic_dir(onnx_dir) as tmp:
        files = ModelFiles(model_dir, tmp)
        export_onnx(model_dir, files.onnx_unfused)
        fusions = fuse_bert(files.onnx_unfused, files.onnx_fp32, hf_config.num_attention_heads, hf_config.hidden_size)
        quantize_dynamic_int8(files.onnx_fp32, files.onnx_int8, per_channel=config.per_channel)

        reference = Classifier.from_resolved(resolved, backend="torch", threads=config.threads)
        encoded = reference.encoder.encode(questions.questions)
        reference_logits = reference.logits_for_encoded(encoded)
        labels = np.asarray(questions.labels)
        report = {"parity_examples": len(encoded), "fusions": fusions, "config": asdict(config), "files": {}}
        reference_accuracy = float((reference_logits.argmax(1) == labels).mean())
        report["torch_accuracy"] = reference_accuracy

        for name, path in (("onnx-unfused", files.onnx_unfused), ("onnx", files.onnx_fp32), ("onnx-int8", files.onnx_int8)):
            backend = OnnxBackend(path, config.threads, name=name)
            candidate = Classifier(reference.encoder, backend, resolved.label_names)
            logits = candidate.logits_for_encoded(encoded)
            entry = agreement(reference_logits, logits)
            entry["accuracy"] = float((logits.argmax(1) == labels).mean())
            entry["accuracy_drop"] = reference_accuracy - entry["accuracy"]
            entry["size_mb"] = round(path.stat().st_size / 1e6, 2)
            report["files"][name] = entry
            log.info("%s: %s", name, entry)

        check_parity(report, config)
        write_json(tmp / "export.json", report)
    return report


def check_parity(report: dict, config: ExportConfig) -> None:
    for name in ("onnx-unfused", "onnx"):
        diff = report["files"][name]["max_abs_logit_diff"]
        if diff > config.fp32_tolerance:
            raise ParityError(
                f"{name} differs from PyTorch by {diff:.2e} in the logits (tolerance {config.fp32_tolerance:.0e}) "
                f"on {report['parity_examples']} validation questions. Nothing was written. "
                "Check the model exports with eager attention, or raise --fp32-tolerance if the difference is expected."
            )
    int8 = report["files"]["onnx-int8"]["argmax_agreement"]
    if int8 < config.int8_min_agreement:
        raise ParityError(
            f"INT8 agrees with PyTorch FP32 on only {int8:.1%} of {report['parity_examples']} validation questions "
            f"(minimum {config.int8_min_agreement:.0%}), {report['files']['onnx-int8']['accuracy_drop'] * 100:.2f} accuracy points lost. "
            "Nothing was written. Lower --int8-min-agreement to accept it."
        )
