"""Evaluate a model with one backend on labelled questions."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from ..data.dataset import LabelledQuestions, load_dataset
from ..data.kaggle import read_kaggle_csv
from ..data.schema import LABEL_SETS, label_of
from ..errors import InputError, MissingArtifactError
from ..io import read_json
from ..runtime.classifier import Classifier
from ..runtime.model_ref import ResolvedModel
from .metrics import classification_metrics

log = logging.getLogger(__name__)


def label_set_for(label_names: list[str]) -> str:
    for name, names in LABEL_SETS.items():
        if list(names) == list(label_names):
            return name
    raise InputError(f"the model's labels {label_names} match no known label set ({', '.join(LABEL_SETS)})")


def evaluation_questions(resolved: ResolvedModel, data: str | None, split: str = "test",
                         max_examples: int | None = None) -> tuple[LabelledQuestions, str]:
    """Return the questions to evaluate on and a description of where they came from.

    Without `data`, the test split of the dataset the run was trained on. `data` may be a prepared
    dataset folder (its `split` is used) or a Kaggle-schema CSV (every row is used).
    """
    if data is None:
        run_dir = resolved.run_dir
        if run_dir is None or not (run_dir / "split.json").is_file():
            raise MissingArtifactError(
                f"{resolved.files.model_dir} has no run folder with split.json, so there is no test split to use. "
                "Pass --data with a prepared dataset folder or a Kaggle-schema CSV."
            )
        data = read_json(run_dir / "split.json")["data_dir"]
        if not Path(data, "dataset.json").is_file():
            raise MissingArtifactError(f"the run's dataset {data} not found (moved or deleted?). Pass --data with its new location.")

    path = Path(data)
    if path.is_dir():
        dataset = load_dataset(path)
        if dataset.label_names != resolved.label_names:
            raise InputError(f"{path} has labels {dataset.label_names} but the model predicts {resolved.label_names}. "
                             f"Prepare the data with --labels {label_set_for(resolved.label_names)}.")
        return dataset.split(split).head(max_examples), f"{path} ({split} split)"

    label_set = label_set_for(resolved.label_names)
    questions = list(read_kaggle_csv(path, max_rows=max_examples))
    labels = [resolved.label_names.index(label_of(q.status, label_set)) for q in questions]
    return LabelledQuestions(questions, labels), str(path)


def evaluate_backend(classifier: Classifier, questions: LabelledQuestions) -> tuple[dict, np.ndarray]:
    """Return metrics (with timing) and the logits, in the order of `questions`."""
    if len(questions) == 0:
        raise InputError("no questions to evaluate: the chosen split or file is empty. Pick another --split or --data.")
    started = time.perf_counter()
    logits = classifier.logits(questions.questions)
    probabilities = classifier.predict_proba(questions.questions, logits)
    seconds = time.perf_counter() - started
    metrics = classification_metrics(np.asarray(questions.labels), probabilities, classifier.label_names)
    metrics["fusion"] = classifier.fusion is not None
    metrics["seconds"] = round(seconds, 3)
    metrics["questions_per_s"] = len(questions) / seconds if seconds > 0 else None
    return metrics, logits
