"""Classical baseline: TF-IDF word 1-2 grams + logistic regression, with optional asker features.

Trained on the same prepared split as the neural models and reported beside them, so users see
what a BERT classifier buys over a model that trains in seconds.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass

import numpy as np
from scipy import sparse

from .data.dataset import LabelledQuestions, load_dataset
from .data.schema import Question
from .errors import InputError
from .evaluation.metrics import classification_metrics

log = logging.getLogger(__name__)
FEATURE_SETS = ("text", "text+meta")


@dataclass
class BaselineConfig:
    data_dir: str
    features: str = "text+meta"
    max_features: int = 200_000
    c_grid: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
    max_examples: int | None = None

    def __post_init__(self) -> None:
        if self.features not in FEATURE_SETS:
            raise InputError(f"invalid --features {self.features!r}: use one of {', '.join(FEATURE_SETS)}")
        if self.max_features < 1:
            raise InputError(f"invalid --max-features {self.max_features}: use 1 or more")
        if not self.c_grid or any(c <= 0 for c in self.c_grid):
            raise InputError(f"invalid --c-grid {self.c_grid}: give positive regularization strengths")


def baseline_text(question: Question) -> str:
    return f"{question.title} {' '.join(question.tags)} {question.body}"


def metadata_matrix(questions: list[Question]) -> np.ndarray:
    """Asker features (n, 4): log1p of reputation, answer count and account age; tag count.

    Missing values become 0 after the log, the value of a new account with no history.
    """
    rows = []
    for question in questions:
        meta = question.metadata()
        rows.append([math.log1p(max(0.0, meta[name] or 0.0)) for name in ("reputation", "answer_count", "account_age_days")]
                    + [meta["tag_count"] or 0.0])
    return np.asarray(rows, dtype=np.float64)


class TfidfBaseline:
    def __init__(self, config: BaselineConfig):
        self.config = config
        self.vectorizer = None
        self.scaler = None
        self.model = None

    def features(self, questions: list[Question], fit: bool = False):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.preprocessing import StandardScaler

        texts = [baseline_text(q) for q in questions]
        if fit:
            self.vectorizer = TfidfVectorizer(ngram_range=(1, 2), max_features=self.config.max_features,
                                              sublinear_tf=True, min_df=2, dtype=np.float32)
            matrix = self.vectorizer.fit_transform(texts)
        else:
            matrix = self.vectorizer.transform(texts)
        if self.config.features == "text":
            return matrix
        meta = metadata_matrix(questions)
        if fit:
            self.scaler = StandardScaler().fit(meta)
        return sparse.hstack([matrix, sparse.csr_matrix(self.scaler.transform(meta))]).tocsr()

    def fit(self, train: LabelledQuestions, validation: LabelledQuestions) -> dict:
        """Fit on train, choosing C by validation log loss; returns the validation scores per C."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import log_loss

        x_train = self.features(train.questions, fit=True)
        x_validation = self.features(validation.questions)
        scores = {}
        best = None
        for c in self.config.c_grid:
            model = LogisticRegression(C=c, max_iter=2000)
            model.fit(x_train, train.labels)
            loss = log_loss(validation.labels, model.predict_proba(x_validation), labels=model.classes_)
            accuracy = float((model.predict(x_validation) == np.asarray(validation.labels)).mean())
            scores[c] = {"val_log_loss": float(loss), "val_accuracy": accuracy}
            log.info("C=%s: validation log loss %.4f, accuracy %.4f", c, loss, accuracy)
            if best is None or loss < best[0]:
                best = (loss, c, model)
        self.model = best[2]
        return {"chosen_c": best[1], "validation": scores}

    def predict_proba(self, questions: list[Question]) -> np.ndarray:
        return self.model.predict_proba(self.features(questions))


def run_baseline(config: BaselineConfig) -> dict:
    """Train and evaluate the baseline on a prepared dataset; returns metrics for the test split."""
    dataset = load_dataset(config.data_dir)
    train = dataset.split("train").head(config.max_examples)
    validation, test = dataset.split("validation"), dataset.split("test")
    empty = [name for name, part in (("train", train), ("validation", validation), ("test", test)) if len(part) == 0]
    if empty:
        raise InputError(f"{config.data_dir}: the {', '.join(empty)} split is empty; prepare more questions.")

    started = time.perf_counter()
    baseline = TfidfBaseline(config)
    selection = baseline.fit(train, validation)
    train_seconds = time.perf_counter() - started

    started = time.perf_counter()
    probabilities = baseline.predict_proba(test.questions)
    predict_seconds = time.perf_counter() - started
    metrics = classification_metrics(np.asarray(test.labels), probabilities, dataset.label_names)
    n_features = len(baseline.vectorizer.vocabulary_) + (4 if config.features == "text+meta" else 0)
    return {
        "variant": f"tfidf-logreg ({config.features})",
        "config": asdict(config),
        "train_examples": len(train),
        "parameters": int(n_features * (1 if len(dataset.label_names) == 2 else len(dataset.label_names))),
        "train_seconds": round(train_seconds, 1),
        "questions_per_s": len(test) / predict_seconds,
        **selection,
        **metrics,
    }
