"""`data prepare`: read a source, label, split and write a prepared dataset."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from .. import __version__
from ..errors import InputError
from .dataset import PreparedDataset, write_dataset
from .kaggle import read_kaggle_csv
from .schema import LABEL_SETS, label_of
from .split import SPLIT_KINDS, stratified_split, time_split
from .text import CODE_MODES

log = logging.getLogger(__name__)


@dataclass
class PrepareConfig:
    source: str
    out: str
    labels: str = "binary"
    seed: int = 42
    split: str = "random"
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    code: str = "keep"
    max_rows: int | None = None

    def __post_init__(self) -> None:
        if self.labels not in LABEL_SETS:
            raise InputError(f"invalid --labels {self.labels!r}: use one of {', '.join(LABEL_SETS)}")
        if self.split not in SPLIT_KINDS:
            raise InputError(f"invalid --split {self.split!r}: use one of {', '.join(SPLIT_KINDS)}")
        if self.code not in CODE_MODES:
            raise InputError(f"invalid --code {self.code!r}: use one of {', '.join(CODE_MODES)}")
        if self.max_rows is not None and self.max_rows < 10:
            raise InputError(f"invalid --max-rows {self.max_rows}: use at least 10 so every split gets questions")


def read_source(config: PrepareConfig):
    """Yield questions from the source file, picking the reader by the file's name and contents."""
    source = Path(config.source)
    name = source.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return read_kaggle_csv(source, code=config.code, max_rows=config.max_rows)
    raise InputError(
        f"{source}: unsupported file type. Expected a Kaggle-schema .csv or .csv.gz "
        "(train.csv or train-sample.csv)."
    )


def prepare_dataset(config: PrepareConfig) -> PreparedDataset:
    """Read, label, split and write; nothing appears at `config.out` unless every step succeeds."""
    questions = list(tqdm(read_source(config), desc="reading questions", unit=" q", disable=None))
    if not questions:
        raise InputError(f"{config.source}: no questions found.")

    label_names = list(LABEL_SETS[config.labels])
    unknown = [q for q in questions if q.status is None]
    if unknown:
        raise InputError(f"{config.source}: question {unknown[0].id} has no label; every question needs one for training data.")
    labels = [label_of(q.status, config.labels) for q in questions]

    if config.split == "random":
        assignment = stratified_split(labels, config.fractions, config.seed)
    else:
        assignment = time_split([q.created for q in questions], config.fractions)

    info = {
        "source": str(Path(config.source).resolve()),
        "label_set": config.labels,
        "label_names": label_names,
        "prepare": asdict(config),
        "sotriage_version": __version__,
    }
    dataset = write_dataset(config.out, questions, labels, assignment, info)
    log.info("wrote %d questions to %s: %s", len(questions), config.out, dataset.info["counts"])
    return dataset
