"""Resolve what a user names as a model (a run folder or a merged model folder) to its files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import MissingArtifactError
from ..modeling import read_sotriage_config
from .base import ModelFiles


@dataclass
class ResolvedModel:
    files: ModelFiles
    label_names: list[str]
    run_dir: Path | None  # the run folder, when the model came from one
    shipped: str | None = None  # name of the classifier shipped with the package (built into the cache on first use)


def resolve_model(reference: str | Path | None) -> ResolvedModel:
    """Accept a run folder (RUN/model inside), a merged model folder, `shipped:NAME`, or None for the
    default shipped model."""
    from ..shipped import DEFAULT_SHIPPED, SHIPPED_PREFIX, shipped_model

    if reference is None:
        return shipped_model(DEFAULT_SHIPPED)
    if isinstance(reference, str) and reference.startswith(SHIPPED_PREFIX):
        return shipped_model(reference[len(SHIPPED_PREFIX):])
    path = Path(reference)
    if (path / "model" / "config.json").is_file():
        run_dir, model_dir, onnx_dir = path, path / "model", path / "onnx"
    elif (path / "config.json").is_file():
        model_dir = path
        run_dir = path.parent if path.name == "model" else None
        onnx_dir = path.parent / "onnx" if run_dir else path / "onnx"
    else:
        contents = (", ".join(sorted(p.name for p in path.iterdir())) or "nothing") if path.is_dir() else "the folder does not exist"
        raise MissingArtifactError(
            f"{path}: no trained model found (expected {path}/model/config.json or {path}/config.json; found: {contents}). "
            f"Train one with: sotriage train DATA_DIR --out {path}"
        )
    settings = read_sotriage_config(model_dir)
    if "label_names" in settings:
        label_names = list(settings["label_names"])
    else:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(str(model_dir))
        label_names = [config.id2label[i] for i in range(config.num_labels)]
    return ResolvedModel(ModelFiles(model_dir, onnx_dir), label_names, run_dir)
