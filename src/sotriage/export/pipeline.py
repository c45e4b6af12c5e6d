"""`sotriage export`: ONNX, fusions, INT8, then parity of every file against PyTorch.

All files are built in a temporary folder that replaces RUN_DIR/onnx only when every parity check
passes, so a failed export never leaves files that `evaluate` or `serve` would pick up.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..data.dataset import load_dataset
from ..errors import ParityError, SotriageError, missing_extra
from ..evaluation.metrics import agreement
from ..io import atomic_dir, read_json, write_json
from ..run_dir import RunDir
from ..runtime.base import ModelFiles
from ..runtime.classifier import Classifier
from ..runtime.model_ref import resolve_model
from ..runtime.onnx_backend import OnnxBackend
from .fusion import fuse_bert
from .onnx_export import export_onnx
from .openvino_int8 import build_openvino_int8
from .qdq import QdqConfig
from .sensitivity import GateConfig, build_int8_files, gate_summary
from .static_quant import StaticQuantConfig

log = logging.getLogger(__name__)


@dataclass
class ExportConfig:
    parity_examples: int = 256
    fp32_tolerance: float = 1e-3  # max |logit difference| of the fused FP32 graph against PyTorch
    int8_min_agreement: float = 0.95  # argmax agreement of INT8 with PyTorch FP32
    per_channel: bool = True
    threads: int | None = None
    static_int8: bool = False  # also build model-int8-static.onnx (calibrated on training questions)
    calibration_questions: int = 256
    calibration_method: str = "minmax"
    int8_gate: bool = True  # accuracy gate for the INT8 files; runs when the run has validation data
    int8_max_drop: float = 0.3  # accuracy points INT8 may lose against FP32 on the gate's questions
    gate_questions: int = 512
    int8_sensitivity: bool = False  # measure every node group's sensitivity even when the gate passes at once
    openvino: bool = True  # add OpenVINO to the parity report when the package is installed
    int8_fp32_nodes: tuple[str, ...] = ()  # nodes kept FP32 in model-int8.onnx when the gate does not run
    openvino_int8: bool = False  # also build model-int8-qdq.onnx for the openvino-int8 backend
    # How its activation ranges come from the calibration questions. On the five-class MiniLM run,
    # percentile agreed with PyTorch FP32 on 98.0% of 512 validation questions and minmax on 95.5%.
    openvino_int8_calibration: str = "percentile"

    def __post_init__(self) -> None:
        # Building the sub-configs validates their fields with messages that name the option.
        self.gate_config()
        self.static_config()
        self.qdq_config()
        if self.openvino_int8 and importlib.util.find_spec("openvino") is None:
            raise missing_extra("openvino", "openvino")
        if self.parity_examples < 1:
            raise SotriageError(f"invalid --parity-examples {self.parity_examples}: use 1 or more")
        if self.fp32_tolerance <= 0:
            raise SotriageError(f"invalid --fp32-tolerance {self.fp32_tolerance}: use a positive number such as 1e-3")
        if not 0 <= self.int8_min_agreement <= 1:
            raise SotriageError(f"invalid --int8-min-agreement {self.int8_min_agreement}: use a fraction in [0, 1]")

    def gate_config(self) -> GateConfig:
        return GateConfig(max_drop=self.int8_max_drop, validation_questions=self.gate_questions, threads=self.threads,
                          always_measure=self.int8_sensitivity)

    def static_config(self) -> StaticQuantConfig:
        return StaticQuantConfig(calibration_questions=self.calibration_questions, calibration_method=self.calibration_method)

    def qdq_config(self) -> QdqConfig:
        return QdqConfig(calibration=self.openvino_int8_calibration, calibration_examples=self.calibration_questions,
                         per_channel=self.per_channel)


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
    """Build model.onnx, model-fused.onnx, model-int8.onnx (and model-int8-static.onnx with
    `config.static_int8`) in `onnx_dir`, with quantization.json and export.json; return the parity report."""
    from transformers import AutoConfig

    hf_config = AutoConfig.from_pretrained(str(model_dir))
    resolved = resolve_model(model_dir)
    questions = parity_questions(run, config.parity_examples)

    with atomic_dir(onnx_dir) as tmp:
        files = ModelFiles(model_dir, tmp)
        export_onnx(model_dir, files.onnx_unfused)
        fusions = fuse_bert(files.onnx_unfused, files.onnx_fp32, hf_config.num_attention_heads, hf_config.hidden_size)
        reference = Classifier.from_resolved(resolved, backend="torch", threads=config.threads)
        quantization = build_int8_files(
            files, reference.encoder, run, config.per_channel,
            static=config.static_config() if config.static_int8 else None,
            gate=config.gate_config() if config.int8_gate else None, fp32_nodes=config.int8_fp32_nodes,
        )
        if config.openvino_int8:
            quantization["files"]["openvino-int8"] = build_openvino_int8(files, reference.encoder, run, config.qdq_config())
            write_json(tmp / "quantization.json", quantization)

        encoded = reference.encoder.encode(questions.questions)
        reference_logits = reference.logits_for_encoded(encoded)
        labels = np.asarray(questions.labels)
        report = {"parity_examples": len(encoded), "fusions": fusions, "config": asdict(config), "files": {}}
        reference_accuracy = float((reference_logits.argmax(1) == labels).mean())
        report["torch_accuracy"] = reference_accuracy
        report["int8_gate"] = {name: gate_summary(entry["gate"]) for name, entry in quantization["files"].items() if "gate" in entry}

        for name, path, backend in parity_backends(files, config):
            candidate = Classifier(reference.encoder, backend, resolved.label_names)
            logits = candidate.logits_for_encoded(encoded)
            entry = agreement(reference_logits, logits)
            entry["accuracy"] = float((logits.argmax(1) == labels).mean())
            entry["accuracy_drop"] = reference_accuracy - entry["accuracy"]
            entry["size_mb"] = round(path.stat().st_size / 1e6, 2)
            if name in ("openvino", "openvino-int8"):
                entry["precision"] = backend.precision
                entry["graph"] = path.name
            backend.close()
            report["files"][name] = entry
            log.info("%s: %s", name, entry)

        check_parity(report, config)
        write_json(tmp / "export.json", report)
    return report


def parity_backends(files: ModelFiles, config: ExportConfig):
    """Yield (name, path, backend) for every exported file, and OpenVINO when it is installed."""
    paths = [("onnx-unfused", files.onnx_unfused), ("onnx", files.onnx_fp32), ("onnx-int8", files.onnx_int8)]
    if files.onnx_int8_static.is_file():
        paths.append(("onnx-int8-static", files.onnx_int8_static))
    for name, path in paths:
        yield name, path, OnnxBackend(path, config.threads, name=name)
    if config.openvino and importlib.util.find_spec("openvino") is not None:
        from ..runtime.openvino_backend import OpenVinoBackend, openvino_model_path

        path = openvino_model_path(files)
        yield "openvino", path, OpenVinoBackend(path, config.threads)
        if files.onnx_int8_qdq.is_file():
            yield "openvino-int8", files.onnx_int8_qdq, OpenVinoBackend(files.onnx_int8_qdq, config.threads, name="openvino-int8")


def check_parity(report: dict, config: ExportConfig) -> None:
    files = report["files"]
    # OpenVINO at f32 must match like the FP32 ONNX files; at bf16 only its predictions are checked.
    exact = ["onnx-unfused", "onnx"]
    reduced = [name for name in ("onnx-int8", "onnx-int8-static", "openvino-int8") if name in files]
    if "openvino" in files:
        (exact if files["openvino"]["precision"] == "f32" else reduced).append("openvino")

    for name in exact:
        diff = files[name]["max_abs_logit_diff"]
        if diff > config.fp32_tolerance:
            raise ParityError(
                f"{name} differs from PyTorch by {diff:.2e} in the logits (tolerance {config.fp32_tolerance:.0e}) "
                f"on {report['parity_examples']} validation questions. Nothing was written. "
                "Check the model exports with eager attention, or raise --fp32-tolerance if the difference is expected."
            )
    for name in reduced:
        agreement_share = files[name]["argmax_agreement"]
        if agreement_share < config.int8_min_agreement:
            raise ParityError(
                f"{name} agrees with PyTorch FP32 on only {agreement_share:.1%} of {report['parity_examples']} validation questions "
                f"(minimum {config.int8_min_agreement:.0%}), {files[name]['accuracy_drop'] * 100:.2f} accuracy points lost. "
                "Nothing was written. Lower --int8-min-agreement to accept it."
            )
