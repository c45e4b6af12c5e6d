"""The five benchmark settings, each turned into the padded batches a backend runs.

    reference   batches of 32 in data order, every question padded to 512 tokens: the procedure
                of the reference implementation (tokenizer padding="max_length").
    sorted32    length-sorted batches of 32, each padded to its longest question: the standard
                recipe for encoder inference.
    production  sotriage's batching: length-sorted batches whose rows x padded length stays
                within a token budget (`encoding.token_budget_batches`).
    latency     one question per call, unpadded; p50/p95/p99 per call.
    end2end     questions in, logits out: tokenization (`QuestionEncoder.encode`), production
                batching, padding and the backend, all timed.

For the first four the batches are built once, before timing, so only the backend is timed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..encoding import Encoded, length_sorted_batches, pad_batch, token_budget_batches
from .config import REFERENCE_BATCH_SIZE

SETTING_TITLES = {
    "reference": "batch 32 padded to 512 (reference procedure)",
    "sorted32": "length-sorted batches of 32",
    "production": "token-budget batches",
    "latency": "batch 1",
    "end2end": "end to end with tokenization",
}


@dataclass
class BatchPlan:
    """Padded batches of one setting, in the order they run; arrays are int64 (batch, seq)."""

    setting: str
    batches: list[dict[str, np.ndarray]]
    real_tokens: int  # tokens of the questions themselves
    padded_lengths: list[int]  # padded length of each batch

    @property
    def rows(self) -> int:
        return sum(len(batch["input_ids"]) for batch in self.batches)

    @property
    def padded_tokens(self) -> int:
        return sum(batch["input_ids"].size for batch in self.batches)

    def describe(self) -> dict:
        padded = self.padded_tokens
        return {
            "batches": len(self.batches),
            "real_tokens": self.real_tokens,
            "padded_tokens": padded,
            "padding_share": round(1 - self.real_tokens / padded, 4) if padded else 0.0,
            "max_rows": max(len(batch["input_ids"]) for batch in self.batches),
            "max_padded_length": max(self.padded_lengths),
        }


def batch_indices(setting: str, lengths: Sequence[int], max_batch_tokens: int, max_batch_size: int) -> list[np.ndarray]:
    """Return the question indices of each batch of `setting` (all settings but end2end)."""
    if setting == "reference":
        return [np.arange(start, min(start + REFERENCE_BATCH_SIZE, len(lengths)))
                for start in range(0, len(lengths), REFERENCE_BATCH_SIZE)]
    if setting == "sorted32":
        return length_sorted_batches(lengths, REFERENCE_BATCH_SIZE)
    if setting == "production":
        return token_budget_batches(lengths, max_batch_tokens, max_batch_size=max_batch_size)
    if setting == "latency":
        return [np.array([i]) for i in range(len(lengths))]
    raise ValueError(f"setting {setting!r} has no fixed batches")


def plan_batches(setting: str, encoded: Sequence[Encoded], pad_id: int, pad_to: int,
                 max_batch_tokens: int, max_batch_size: int) -> BatchPlan:
    """Build the padded batches of `setting`; `pad_to` applies to the reference setting only."""
    lengths = [len(item) for item in encoded]
    batches = []
    for index in batch_indices(setting, lengths, max_batch_tokens, max_batch_size):
        rows = [encoded[i] for i in index]
        batches.append(pad_batch(rows, pad_id, pad_to=pad_to if setting == "reference" else None))
    return BatchPlan(setting, batches, sum(lengths), [batch["input_ids"].shape[1] for batch in batches])


def length_stats(encoded: Sequence[Encoded], max_length: int) -> dict:
    """Token-length percentiles of the encoded questions, after truncation at `max_length`."""
    lengths = np.array([len(item) for item in encoded])
    return {
        "mean": round(float(lengths.mean()), 1),
        **{f"p{q}": int(np.percentile(lengths, q)) for q in (50, 75, 90, 95, 99)},
        "max": int(lengths.max()),
        # Questions at max_length were (almost all) truncated to it.
        "share_at_max_length": round(float((lengths >= max_length).mean()), 4),
    }
