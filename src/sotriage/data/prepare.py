"""`data prepare`: read a source, label, split and write a prepared dataset."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from .. import __version__
from ..errors import InputError
from .dataset import PreparedDataset, write_dataset
from .generic import GenericColumns
from .schema import LABEL_SETS, REASON_LABELS, label_of
from .sources import open_source
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
    # Column names for CSV / JSONL / Parquet files not in the Kaggle schema; None for other sources.
    columns: GenericColumns | None = None
    # Stack Exchange dumps only: keep questions closed as duplicates (binary labels), and fill
    # reputation from Users.xml (reputation at dump time, not at post time).
    keep_duplicates: bool = False
    dump_reputation: bool = False

    def __post_init__(self) -> None:
        if self.labels not in LABEL_SETS:
            raise InputError(f"invalid --labels {self.labels!r}: use one of {', '.join(LABEL_SETS)}")
        if self.split not in SPLIT_KINDS:
            raise InputError(f"invalid --split {self.split!r}: use one of {', '.join(SPLIT_KINDS)}")
        if self.code not in CODE_MODES:
            raise InputError(f"invalid --code {self.code!r}: use one of {', '.join(CODE_MODES)}")
        if self.max_rows is not None and self.max_rows < 10:
            raise InputError(f"invalid --max-rows {self.max_rows}: use at least 10 so every split gets questions")
        fractions = tuple(self.fractions)
        if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
            raise InputError(f"invalid --fractions {','.join(map(str, fractions))}: give three non-negative numbers that sum to 1, e.g. 0.8,0.1,0.1")


def read_source(config: PrepareConfig):
    """Return the questions of the source, picking the reader by the file's name and contents.

    Sources are Stack Exchange dumps (Posts.xml or its folder), Kaggle-schema CSV files, and
    CSV / JSONL / Parquet files read with `config.columns`. `sotriage.data.sources` has the rules.
    """
    return open_source(
        config.source, labels=config.labels, code=config.code, max_rows=config.max_rows, columns=config.columns,
        keep_duplicates=config.keep_duplicates, dump_reputation=config.dump_reputation,
    )


def prepare_dataset(config: PrepareConfig) -> PreparedDataset:
    """Read, label, split and write; nothing appears at `config.out` unless every step succeeds."""
    source = read_source(config)
    questions = list(tqdm(source, desc="reading questions", unit=" q", disable=None))
    if not questions:
        raise InputError(f"{config.source}: no questions found.")

    label_names = list(LABEL_SETS[config.labels])
    unknown = [q for q in questions if q.status is None]
    if unknown:
        raise InputError(f"{config.source}: question {unknown[0].id} has no label; every question needs one for training data.")
    if config.labels == "reasons":
        _check_reason_labels(config, questions)
    labels = [label_of(q.status, config.labels) for q in questions]

    if config.split == "random":
        assignment = stratified_split(labels, config.fractions, config.seed)
    else:
        assignment = _time_split(config, questions)

    info = {
        "source": str(Path(config.source).resolve()),
        "label_set": config.labels,
        "label_names": label_names,
        "prepare": asdict(config),
        "sotriage_version": __version__,
    }
    stats = getattr(source, "stats", None)
    if stats is not None:
        info["import"] = stats.to_dict()
    empty = [name for name in ("train", "validation", "test") if name not in assignment]
    if empty:
        raise InputError(
            f"{config.source}: {len(questions)} questions leave the {', '.join(empty)} split empty with fractions "
            f"{config.fractions}. Add questions (at least about 20) or change --fractions."
        )
    dataset = write_dataset(config.out, questions, labels, assignment, info)
    log.info("wrote %d questions to %s: %s", len(questions), config.out, dataset.info["counts"])
    return dataset


def _check_reason_labels(config: PrepareConfig, questions) -> None:
    without_reason = [q for q in questions if q.status not in REASON_LABELS]
    if without_reason:
        first = without_reason[0]
        raise InputError(
            f"{config.source}: {len(without_reason)} questions have status {first.status!r} without a close reason "
            f"(first: question {first.id}); --labels reasons needs one of: {', '.join(REASON_LABELS)}. "
            "Use --labels binary, or map the values to close reasons with --label-map."
        )


def _time_split(config: PrepareConfig, questions) -> list[str]:
    undated = [q for q in questions if not q.created]
    if undated:
        raise InputError(
            f"{config.source}: {len(undated)} of {len(questions)} questions have no creation date (first: question "
            f"{undated[0].id}); --split time needs one on every question. Name the date column with --created-column "
            "(CSV / JSONL / Parquet), or use --split random."
        )
    return time_split([q.created for q in questions], config.fractions)
