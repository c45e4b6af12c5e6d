"""Late fusion: combine the encoder's logits with a TF-IDF model and asker metadata.

A small logistic regression (the fusion head) reads, per question: the encoder's logits, the
TF-IDF + logistic regression log-probabilities, and, when the caller has them, four asker
features (log1p reputation, log1p answer count, tag count, log1p account age in days). It is fitted
on the validation split, never on test. Two heads are stored: one with the asker features and one
without, so a question whose metadata is missing is scored by the text-only head instead of by
made-up values.

Everything is stored as JSON and NumPy arrays in MODEL_DIR/fusion/ (no pickle), and costs a sparse
dot product per question at inference time.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .data.schema import Question
from .io import atomic_dir

log = logging.getLogger(__name__)
FUSION_DIR = "fusion"
META_NAMES = ("log1p_reputation", "log1p_answer_count", "tag_count", "log1p_account_age_days")


def has_metadata(question: Question) -> bool:
    return question.reputation is not None and question.answer_count is not None and question.account_age_days is not None


def metadata_features(questions: Sequence[Question]) -> np.ndarray:
    """(n, 4) asker features; rows of questions without metadata are zeros (and unused)."""
    rows = np.zeros((len(questions), len(META_NAMES)), dtype=np.float64)
    for i, q in enumerate(questions):
        if has_metadata(q):
            rows[i] = [math.log1p(max(0.0, q.reputation)), math.log1p(max(0.0, q.answer_count)),
                       float(len(q.tags)), math.log1p(max(0.0, q.account_age_days))]
        else:
            rows[i, 2] = float(len(q.tags))
    return rows


class TfidfText:
    """A TF-IDF + logistic regression text model stored as arrays, for the fusion head."""

    def __init__(self, vocabulary: dict[str, int], idf: np.ndarray, coef: np.ndarray, intercept: np.ndarray):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, vocabulary=vocabulary, dtype=np.float32)
        self.vectorizer.idf_ = idf
        self.coef = coef  # (classes or 1, features)
        self.intercept = intercept

    @classmethod
    def from_baseline(cls, baseline) -> "TfidfText":
        vectorizer, model = baseline.vectorizer, baseline.model
        n_text = len(vectorizer.vocabulary_)
        return cls(dict(vectorizer.vocabulary_), vectorizer.idf_.astype(np.float32),
                   model.coef_[:, :n_text].astype(np.float32), model.intercept_.astype(np.float32))

    def log_probabilities(self, questions: Sequence[Question]) -> np.ndarray:
        from .baseline import baseline_text

        matrix = self.vectorizer.transform([baseline_text(q) for q in questions])
        scores = matrix @ self.coef.T + self.intercept  # (n, classes or 1)
        if scores.shape[1] == 1:  # binary: one score for the second class
            scores = np.hstack([np.zeros_like(scores), scores])
        scores = scores - scores.max(axis=1, keepdims=True)
        return scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))


@dataclass
class LinearHead:
    """Standardize features, then a multinomial (or binary) logistic regression."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (classes or 1, features)
    intercept: np.ndarray

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        scores = ((features - self.mean) / self.scale) @ self.coef.T + self.intercept
        if scores.shape[1] == 1:
            p = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.stack([1.0 - p, p], axis=1)
        scores = scores - scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, c: float = 1.0) -> "LinearHead":
        from sklearn.linear_model import LogisticRegression

        mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-6
        model = LogisticRegression(C=c, max_iter=5000).fit((features - mean) / scale, labels)
        return cls(mean, scale, model.coef_, model.intercept_)

    def to_dict(self) -> dict:
        return {k: getattr(self, k).tolist() for k in ("mean", "scale", "coef", "intercept")}

    @classmethod
    def from_dict(cls, data: dict) -> "LinearHead":
        return cls(**{k: np.asarray(v, dtype=np.float64) for k, v in data.items()})


class FusionHead:
    def __init__(self, text_model: TfidfText | None, with_meta: LinearHead, text_only: LinearHead, info: dict):
        self.text_model = text_model
        self.with_meta = with_meta
        self.text_only = text_only
        self.info = info

    def text_features(self, questions: Sequence[Question], logits: np.ndarray) -> np.ndarray:
        parts = [logits.astype(np.float64)]
        if self.text_model is not None:
            parts.append(self.text_model.log_probabilities(questions))
        return np.hstack(parts)

    def probabilities(self, questions: Sequence[Question], logits: np.ndarray) -> np.ndarray:
        """Fused probabilities (n, classes): the metadata head where metadata is present."""
        text = self.text_features(questions, logits)
        result = self.text_only.probabilities(text)
        present = np.array([has_metadata(q) for q in questions], dtype=bool)
        if present.any():
            full = np.hstack([text[present], metadata_features([q for q, p in zip(questions, present) if p])])
            result[present] = self.with_meta.probabilities(full)
        return result

    def save(self, model_dir: str | Path) -> Path:
        target = Path(model_dir) / FUSION_DIR
        with atomic_dir(target) as tmp:
            (tmp / "heads.json").write_text(json.dumps({
                "info": self.info, "with_meta": self.with_meta.to_dict(), "text_only": self.text_only.to_dict(),
            }), encoding="utf-8")
            if self.text_model is not None:
                (tmp / "tfidf_vocabulary.json").write_text(json.dumps({term: int(index) for term, index in self.text_model.vectorizer.vocabulary.items()}), encoding="utf-8")
                np.savez_compressed(tmp / "tfidf.npz", idf=self.text_model.vectorizer.idf_, coef=self.text_model.coef,
                                    intercept=self.text_model.intercept)
        return target

    @classmethod
    def load(cls, model_dir: str | Path) -> "FusionHead | None":
        folder = Path(model_dir) / FUSION_DIR
        if not (folder / "heads.json").is_file():
            return None
        heads = json.loads((folder / "heads.json").read_text(encoding="utf-8"))
        text_model = None
        if (folder / "tfidf.npz").is_file():
            arrays = np.load(folder / "tfidf.npz")
            vocabulary = json.loads((folder / "tfidf_vocabulary.json").read_text(encoding="utf-8"))
            text_model = TfidfText(vocabulary, arrays["idf"], arrays["coef"], arrays["intercept"])
        return cls(text_model, LinearHead.from_dict(heads["with_meta"]), LinearHead.from_dict(heads["text_only"]), heads["info"])


def fit_fusion(text_model: TfidfText | None, validation_questions: Sequence[Question], validation_logits: np.ndarray,
               validation_labels: Sequence[int], info: dict) -> FusionHead:
    """Fit both heads on validation questions and the encoder's logits for them."""
    labels = np.asarray(validation_labels)
    head = FusionHead(text_model, None, None, info)  # type: ignore[arg-type]
    text = head.text_features(validation_questions, validation_logits)
    head.text_only = LinearHead.fit(text, labels)
    present = np.array([has_metadata(q) for q in validation_questions], dtype=bool)
    if present.sum() < 50:
        log.warning("only %d validation questions have asker metadata; the metadata head equals the text-only head", present.sum())
        head.with_meta = LinearHead(np.hstack([head.text_only.mean, np.zeros(4)]), np.hstack([head.text_only.scale, np.ones(4)]),
                                    np.hstack([head.text_only.coef, np.zeros((head.text_only.coef.shape[0], 4))]),
                                    head.text_only.intercept)
    else:
        meta = metadata_features([q for q, p in zip(validation_questions, present) if p])
        head.with_meta = LinearHead.fit(np.hstack([text[present], meta]), labels[present])
    return head
