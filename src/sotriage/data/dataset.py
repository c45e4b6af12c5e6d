"""The prepared dataset folder written by `sotriage data prepare` and read by every later stage.

Layout:
    DATA_DIR/dataset.json       source, label set, label names, split settings, counts
    DATA_DIR/train.jsonl        one question per line, with "label" (a label name)
    DATA_DIR/validation.jsonl
    DATA_DIR/test.jsonl
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..errors import InputError, MissingArtifactError
from ..io import atomic_dir, read_json
from .schema import Question
from .split import SPLIT_NAMES

DATASET_FILE = "dataset.json"


@dataclass
class LabelledQuestions:
    """Questions of one split with their label ids."""

    questions: list[Question]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.questions)

    def head(self, n: int | None) -> "LabelledQuestions":
        if n is None or n >= len(self.questions):
            return self
        return LabelledQuestions(self.questions[:n], self.labels[:n])

    def sample(self, n: int | None, seed: int) -> "LabelledQuestions":
        """A seeded random subset of n questions, in their original order.

        Split files keep the source's order, which is by post id and so by date in the Kaggle data:
        the first rows are the oldest questions and not a representative subset.
        """
        if n is None or n >= len(self.questions):
            return self
        import numpy as np

        keep = np.sort(np.random.default_rng(seed).choice(len(self.questions), size=n, replace=False))
        return LabelledQuestions([self.questions[i] for i in keep], [self.labels[i] for i in keep])


@dataclass
class PreparedDataset:
    path: Path
    info: dict

    @property
    def label_names(self) -> list[str]:
        return list(self.info["label_names"])

    def split(self, name: str) -> LabelledQuestions:
        if name not in SPLIT_NAMES:
            raise ValueError(f"unknown split {name!r}: use one of {', '.join(SPLIT_NAMES)}")
        label_ids = {label: i for i, label in enumerate(self.label_names)}
        questions, labels = [], []
        with open(self.path / f"{name}.jsonl", encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, start=1):
                record = json.loads(line)
                if record["label"] not in label_ids:
                    raise InputError(f"{self.path / f'{name}.jsonl'}: line {line_number}: label {record['label']!r} is not in dataset.json's label_names {self.label_names}")
                questions.append(Question.from_record(record))
                labels.append(label_ids[record["label"]])
        return LabelledQuestions(questions, labels)


def load_dataset(path: str | Path) -> PreparedDataset:
    """Open a prepared dataset folder, or say which command makes one."""
    path = Path(path)
    info_path = path / DATASET_FILE
    if not info_path.is_file():
        raise MissingArtifactError(
            f"{path} is not a prepared dataset: {DATASET_FILE} not found. "
            f"Create one with: sotriage data prepare SOURCE --out {path}"
        )
    info = read_json(info_path)
    missing = [name for name in SPLIT_NAMES if not (path / f"{name}.jsonl").is_file()]
    if missing:
        raise MissingArtifactError(f"{path}: split file(s) {', '.join(missing)} not found. Run sotriage data prepare again.")
    return PreparedDataset(path, info)


def write_dataset(
    out: str | Path,
    questions: Iterable[Question],
    labels: list[str],
    assignment: list[str],
    info: dict,
) -> PreparedDataset:
    """Write the splits and dataset.json into `out` atomically; return the opened dataset."""
    out = Path(out)
    counts = {name: {} for name in SPLIT_NAMES}
    with atomic_dir(out) as tmp:
        handles = {name: open(tmp / f"{name}.jsonl", "w", encoding="utf-8") for name in SPLIT_NAMES}
        try:
            for question, label, split in zip(questions, labels, assignment):
                record = question.to_record()
                record["label"] = label
                handles[split].write(json.dumps(record, ensure_ascii=False) + "\n")
                counts[split][label] = counts[split].get(label, 0) + 1
        finally:
            for handle in handles.values():
                handle.close()
        info = {**info, "counts": counts}
        (tmp / DATASET_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return PreparedDataset(out, info)
