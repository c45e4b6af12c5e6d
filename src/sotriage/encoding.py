"""Tokenize questions into model inputs, truncate long ones, and pad batches.

A question becomes a BERT sentence pair: segment A is the title with its tags, segment B the body.
The title is capped at `title_max_tokens` and the body fills the rest of `max_length`. With
`truncation="head_tail"` a long body keeps its first part and its last `tail_tokens` tokens, because
the end of a question often contains the actual request or the error.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from .data.schema import Question
from .data.text import question_text
from .errors import InputError

TRUNCATION_STRATEGIES = ("head", "head_tail")
# Token budget of an inference batch (rows x padded length). On a 2-core AMD EPYC Zen 5 with ONNX
# Runtime INT8, 1024 was the fastest budget swept from 1024 to 32768 on both MiniLM and BERT-base
# (docs/performance.md, "Levers"). Small batches keep each layer's activations in cache.
DEFAULT_MAX_BATCH_TOKENS = 1024
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


@dataclass
class EncodingConfig:
    max_length: int = 256
    truncation: str = "head_tail"
    title_max_tokens: int = 48
    tail_tokens: int = 64
    include_tags: bool = True

    def __post_init__(self) -> None:
        if not 16 <= self.max_length <= 8192:
            raise InputError(f"invalid max_length {self.max_length}: use a value from 16 to the model's max position embeddings (512 for BERT)")
        if self.truncation not in TRUNCATION_STRATEGIES:
            raise InputError(f"invalid truncation {self.truncation!r}: use one of {', '.join(TRUNCATION_STRATEGIES)}")
        if not 1 <= self.title_max_tokens < self.max_length - 3:
            raise InputError(f"invalid title_max_tokens {self.title_max_tokens}: use 1 to max_length - 4 ({self.max_length - 4})")
        if self.tail_tokens < 0:
            raise InputError(f"invalid tail_tokens {self.tail_tokens}: use 0 or more")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Encoded:
    """Token ids of one question, before padding."""

    input_ids: list[int]
    token_type_ids: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)


class QuestionEncoder:
    """Turn questions into `Encoded` token ids with a Hugging Face fast tokenizer."""

    def __init__(self, tokenizer, config: EncodingConfig | None = None):
        self.tokenizer = tokenizer
        self.config = config or EncodingConfig()
        self.cls_id = tokenizer.cls_token_id
        self.sep_id = tokenizer.sep_token_id
        self.pad_id = tokenizer.pad_token_id or 0
        if self.cls_id is None or self.sep_id is None:
            raise InputError("the tokenizer has no [CLS]/[SEP] tokens; sotriage needs a BERT-family (WordPiece) tokenizer")

    def encode(self, questions: Sequence[Question]) -> list[Encoded]:
        config = self.config
        firsts, bodies = [], []
        for question in questions:
            first, body = question_text(question.title, question.body, question.tags if config.include_tags else ())
            firsts.append(first)
            bodies.append(body)
        # One batched call per segment: the fast tokenizer runs it in Rust, 3-4k questions/s.
        # verbose=False: bodies longer than the model's limit are expected here and truncated below.
        first_ids = self.tokenizer(firsts, add_special_tokens=False, verbose=False)["input_ids"]
        body_ids = self.tokenizer(bodies, add_special_tokens=False, verbose=False)["input_ids"]
        return [self._assemble(a, b) for a, b in zip(first_ids, body_ids)]

    def _assemble(self, first: list[int], body: list[int]) -> Encoded:
        config = self.config
        first = first[: config.title_max_tokens]
        budget = config.max_length - len(first) - 3  # [CLS] first [SEP] body [SEP]
        if len(body) > budget:
            if config.truncation == "head_tail" and budget > 2 * config.tail_tokens:
                body = body[: budget - config.tail_tokens] + body[-config.tail_tokens :]
            else:
                body = body[:budget]
        input_ids = [self.cls_id, *first, self.sep_id, *body, self.sep_id]
        token_type_ids = [0] * (len(first) + 2) + [1] * (len(body) + 1)
        return Encoded(input_ids, token_type_ids)


def pad_batch(encoded: Sequence[Encoded], pad_id: int = 0, pad_to: int | None = None) -> dict[str, np.ndarray]:
    """Right-pad a batch to its longest member (or to `pad_to`); returns int64 arrays (batch, seq)."""
    length = max(len(item) for item in encoded)
    if pad_to is not None:
        length = max(length, pad_to)
    batch = len(encoded)
    input_ids = np.full((batch, length), pad_id, dtype=np.int64)
    attention_mask = np.zeros((batch, length), dtype=np.int64)
    token_type_ids = np.zeros((batch, length), dtype=np.int64)
    for row, item in enumerate(encoded):
        n = len(item)
        input_ids[row, :n] = item.input_ids
        attention_mask[row, :n] = 1
        token_type_ids[row, :n] = item.token_type_ids
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Split indices into batches of similar length, longest first, so padding is minimal."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def token_budget_batches(lengths: Sequence[int], max_tokens: int, max_batch_size: int = 256) -> list[np.ndarray]:
    """Length-sorted batches whose padded size (rows x longest row) stays within `max_tokens`.

    Short questions then run in large batches and long ones in small batches, so every batch costs
    about the same and no batch pads short questions up to a long one.
    """
    order = np.argsort(-np.asarray(lengths), kind="stable")
    batches, current, current_max = [], [], 0
    for index in order:
        length = int(lengths[index])
        longest = max(current_max, length)
        if current and (longest * (len(current) + 1) > max_tokens or len(current) >= max_batch_size):
            batches.append(np.array(current))
            current, longest = [], length
        current.append(index)
        current_max = longest
    if current:
        batches.append(np.array(current))
    return batches
