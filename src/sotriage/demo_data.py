"""The bundled sample: a few hundred synthetic, labelled Stack-Overflow-style questions.

The questions were written by this project (see resources/sample/README.md); they let the demo
and tests run with no network and no downloaded data. Accuracy on them says nothing about real data.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .data.dataset import LabelledQuestions
from .data.kaggle import read_kaggle_csv
from .data.schema import LABEL_SETS, label_of


def sample_path() -> Path:
    return Path(str(resources.files("sotriage") / "resources" / "sample" / "questions.csv.gz"))


def sample_questions(label_set: str = "binary") -> LabelledQuestions:
    names = list(LABEL_SETS[label_set])
    questions = list(read_kaggle_csv(sample_path()))
    labels = [names.index(label_of(q.status, label_set)) for q in questions]
    return LabelledQuestions(questions, labels)
