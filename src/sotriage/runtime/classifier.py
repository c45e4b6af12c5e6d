"""The classifier: questions in, label probabilities out, through any backend.

Questions are tokenized in one batched call, grouped into length-sorted batches padded only to
each batch's longest question, run through the backend, and returned in input order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..data.schema import Question
from ..errors import InputError
from ..encoding import (DEFAULT_MAX_BATCH_TOKENS, EncodingConfig, Encoded, QuestionEncoder, length_sorted_batches, pad_batch,
                        token_budget_batches)
from ..modeling import load_tokenizer, read_sotriage_config
from .base import Backend, create_backend
from .model_ref import ResolvedModel, resolve_model


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


@dataclass
class Prediction:
    label: str
    probabilities: dict[str, float]

    def to_dict(self) -> dict:
        return {"label": self.label, "probabilities": self.probabilities}


class Classifier:
    """Tokenize questions, batch them and run a backend; `max_batch_tokens=None` batches `batch_size`
    length-sorted rows instead of filling a token budget (rows capped at `batch_size`).

    `pad_multiple` pads each batch's sequence length up to a multiple of it, which bounds how many
    distinct input shapes a long-running process sends to its backend (see `sotriage serve`).
    """

    def __init__(self, encoder: QuestionEncoder, backend: Backend, label_names: list[str],
                 batch_size: int = 32, max_batch_tokens: int | None = DEFAULT_MAX_BATCH_TOKENS, fusion=None,
                 pad_multiple: int = 1):
        if pad_multiple < 1:
            raise InputError(f"invalid pad_multiple {pad_multiple}: use 1 (no extra padding) or more, e.g. 32")
        self.encoder = encoder
        self.fusion = fusion  # a sotriage.fusion.FusionHead, or None for the encoder's softmax alone
        self.backend = backend
        self.label_names = list(label_names)
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.pad_multiple = pad_multiple

    @classmethod
    def load(cls, model: str | None = None, backend: str = "onnx-int8", threads: int | None = None,
             batch_size: int = 32, max_batch_tokens: int | None = DEFAULT_MAX_BATCH_TOKENS, fusion: bool = True) -> "Classifier":
        resolved = resolve_model(model)
        return cls.from_resolved(resolved, backend, threads, batch_size, max_batch_tokens, fusion)

    @classmethod
    def from_resolved(cls, resolved: ResolvedModel, backend: str = "onnx-int8", threads: int | None = None,
                      batch_size: int = 32, max_batch_tokens: int | None = DEFAULT_MAX_BATCH_TOKENS, fusion: bool = True) -> "Classifier":
        """Build the classifier; `fusion=False` ignores a fusion head in the model folder."""
        from ..fusion import FusionHead

        if resolved.shipped and backend.startswith(("onnx", "openvino")):
            from ..shipped import ensure_onnx

            ensure_onnx(resolved, threads, backend)
        settings = read_sotriage_config(resolved.files.model_dir)
        encoding = EncodingConfig(**settings.get("encoding", {}))
        tokenizer = load_tokenizer(str(resolved.files.model_dir))
        runtime = create_backend(backend, resolved.files, threads)
        head = FusionHead.load(resolved.files.model_dir) if fusion else None
        return cls(QuestionEncoder(tokenizer, encoding), runtime, resolved.label_names, batch_size, max_batch_tokens, head)

    def batches(self, encoded: Sequence[Encoded]) -> list[np.ndarray]:
        lengths = [len(item) for item in encoded]
        if self.max_batch_tokens:
            return token_budget_batches(lengths, self.max_batch_tokens, max_batch_size=max(self.batch_size, 1))
        return length_sorted_batches(lengths, self.batch_size)

    def logits_for_encoded(self, encoded: Sequence[Encoded]) -> np.ndarray:
        logits = np.zeros((len(encoded), len(self.label_names)), dtype=np.float32)
        for index in self.batches(encoded):
            longest = max(len(encoded[i]) for i in index)
            pad_to = -(-longest // self.pad_multiple) * self.pad_multiple
            inputs = pad_batch([encoded[i] for i in index], self.encoder.pad_id, pad_to)  # (batch, seq) each
            logits[index] = self.backend(inputs)
        return logits

    def logits(self, questions: Sequence[Question]) -> np.ndarray:
        """Return logits (n, num_labels) in the order of `questions`."""
        if not questions:
            return np.zeros((0, len(self.label_names)), dtype=np.float32)
        return self.logits_for_encoded(self.encoder.encode(questions))

    def predict_proba(self, questions: Sequence[Question], logits: np.ndarray | None = None) -> np.ndarray:
        """Probabilities (n, num_labels): the fusion head's when the model has one, else softmax(logits)."""
        if logits is None:
            logits = self.logits(questions)
        if self.fusion is not None and len(questions):
            return self.fusion.probabilities(questions, logits)
        return softmax(logits)

    def predict(self, questions: Sequence[Question]) -> list[Prediction]:
        probabilities = self.predict_proba(questions)
        return [
            Prediction(self.label_names[int(row.argmax())], {name: float(p) for name, p in zip(self.label_names, row)})
            for row in probabilities
        ]

    def close(self) -> None:
        self.backend.close()
