"""The questions a benchmark measures: a random sample of real questions, so lengths are real.

Throughput on transformer encoders depends on the length distribution far more than on anything
else, so the default is the real Kaggle sample beside the checkout. The bundled synthetic sample is
the fallback, and the JSON records which one a run used.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.schema import Question
from ..errors import InputError

log = logging.getLogger(__name__)

# Path of the real questions inside the shared data folder beside a checkout (<checkout>/../shared/data).
REAL_DATA_RELATIVE = Path("so-closed-questions") / "train-sample-subset.csv.gz"


@dataclass
class Workload:
    questions: list[Question]
    source: str  # path, or "bundled sample"
    kind: str  # "prepared dataset (test split)", "Kaggle CSV" or "bundled sample"
    pool_size: int  # questions the sample was drawn from
    seed: int

    def to_dict(self) -> dict:
        return {"source": self.source, "kind": self.kind, "pool_size": self.pool_size,
                "n": len(self.questions), "seed": self.seed, "sampling": "uniform without replacement"}


def default_data_path() -> Path | None:
    """Return the real data beside the checkout, found from the working folder or the package.

    SOTRIAGE_SHARED_DATA names the data folder directly. Otherwise every ancestor of the current
    folder and of this package is tried for shared/data/so-closed-questions/train-sample-subset.csv.gz.
    """
    if os.environ.get("SOTRIAGE_SHARED_DATA"):
        candidate = Path(os.environ["SOTRIAGE_SHARED_DATA"]) / REAL_DATA_RELATIVE
        return candidate if candidate.is_file() else None
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for folder in (start, *start.parents):
            candidate = folder / "shared" / "data" / REAL_DATA_RELATIVE
            if candidate.is_file():
                return candidate
    return None


def load_workload(data: str | None, n: int, seed: int = 0) -> Workload:
    """Draw `n` questions from `data` (prepared dataset folder or Kaggle CSV), the real data, or the sample."""
    if data is None:
        path = default_data_path()
        if path is None:
            log.warning("real data not found beside the checkout; measuring on the bundled synthetic sample")
            return _sample(_bundled_questions(), n, seed, "bundled sample", "bundled sample")
        data = str(path)
    path = Path(data)
    if path.is_dir():
        return _sample(_prepared_questions(path), n, seed, str(path), "prepared dataset (test split)")
    if path.is_file():
        return _sample(_csv_questions(path), n, seed, str(path), "Kaggle CSV")
    raise InputError(
        f"--data {data} not found. Pass a prepared dataset folder (sotriage data prepare) or a Kaggle-schema "
        "CSV (.csv or .csv.gz), or leave --data out to use the real data beside the checkout."
    )


def _prepared_questions(path: Path) -> list[Question]:
    from ..data.dataset import load_dataset

    return load_dataset(path).split("test").questions


def _csv_questions(path: Path) -> list[Question]:
    from ..data.kaggle import read_kaggle_csv

    if not path.name.lower().endswith((".csv", ".csv.gz")):
        raise InputError(f"--data {path}: unsupported file type. Pass a Kaggle-schema .csv or .csv.gz, or a prepared dataset folder.")
    return list(read_kaggle_csv(path))


def _bundled_questions() -> list[Question]:
    from ..demo_data import sample_questions

    return sample_questions().questions


def _sample(pool: list[Question], n: int, seed: int, source: str, kind: str) -> Workload:
    if not pool:
        raise InputError(f"--data {source}: no questions found.")
    if n > len(pool):
        log.warning("%s has only %d questions; measuring all of them instead of --n %d", source, len(pool), n)
        n = len(pool)
    # A uniform sample: Kaggle files are sorted by date, so the first rows are not typical.
    index = np.random.default_rng(seed).choice(len(pool), size=n, replace=False)
    return Workload([pool[i] for i in sorted(index)], source, kind, len(pool), seed)
