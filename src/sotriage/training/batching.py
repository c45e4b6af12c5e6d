"""Training batches grouped by length, so little compute goes to padding."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..encoding import Encoded, pad_batch


def length_grouped_batches(lengths: Sequence[int], batch_size: int, seed: int, group_batches: int = 50) -> list[np.ndarray]:
    """Shuffle, then sort by length within groups of `group_batches` batches, then shuffle batches.

    Batches hold questions of similar length (little padding) while the order stays random
    across the epoch. The same seed gives the same batches, which is what --resume relies on.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    lengths = np.asarray(lengths)
    group = batch_size * group_batches
    batches = []
    for start in range(0, len(order), group):
        chunk = order[start : start + group]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def to_tensors(encoded: Sequence[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    return {name: torch.from_numpy(array) for name, array in pad_batch(encoded, pad_id).items()}
