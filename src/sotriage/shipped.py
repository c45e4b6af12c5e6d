"""The classifier shipped with the package: a LoRA adapter and head on the bundled MiniLM.

The package carries only the adapter (a few MB). On first use the merged model is built into a
cache folder, atomically, and reused afterwards; the ONNX files are built there by export.
"""

from __future__ import annotations

import hashlib
import logging
import os
from importlib import resources
from pathlib import Path

from .errors import MissingArtifactError
from .io import atomic_dir, read_json, write_json
from .modeling import SOTRIAGE_CONFIG, bundled_minilm_path, load_sequence_classifier, load_tokenizer

log = logging.getLogger(__name__)


def shipped_dir() -> Path:
    return Path(str(resources.files("sotriage") / "resources" / "model"))


def cache_root() -> Path:
    """SOTRIAGE_CACHE, else $XDG_CACHE_HOME/sotriage, else ~/.cache/sotriage."""
    if os.environ.get("SOTRIAGE_CACHE"):
        return Path(os.environ["SOTRIAGE_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "sotriage"


def _fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(folder).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def shipped_model():
    """Return the shipped classifier, merging its adapter into the base model on first use."""
    from .runtime.base import ModelFiles
    from .runtime.model_ref import ResolvedModel

    source = shipped_dir()
    if not (source / "adapter" / "adapter_config.json").is_file():
        raise MissingArtifactError(
            f"this installation ships no trained model ({source}/adapter not found). "
            "Name a model: a run folder from `sotriage train`, or a merged model folder."
        )
    root = cache_root() / f"shipped-{_fingerprint(source)}"
    model_dir = root / "model"
    if not (model_dir / SOTRIAGE_CONFIG).is_file():
        log.info("building the shipped model into %s (first use)", model_dir)
        build_merged(source, model_dir)
    settings = read_json(model_dir / SOTRIAGE_CONFIG)
    return ResolvedModel(ModelFiles(model_dir, root / "onnx"), list(settings["label_names"]), None)


def build_merged(source: Path, model_dir: Path) -> None:
    from peft import PeftModel

    settings = read_json(source / SOTRIAGE_CONFIG)
    base = str(bundled_minilm_path())
    model = load_sequence_classifier(base, settings["label_names"])
    model = PeftModel.from_pretrained(model, str(source / "adapter")).merge_and_unload().eval()
    with atomic_dir(model_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        load_tokenizer(base).save_pretrained(tmp)
        write_json(tmp / SOTRIAGE_CONFIG, settings)
