"""Deterministic train/validation/test splits."""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

SPLIT_NAMES = ("train", "validation", "test")
SPLIT_KINDS = ("random", "time")


def stratified_split(
    labels: Sequence[str], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 42
) -> list[str]:
    """Assign each row a split name, keeping each label's share equal across splits.

    The result depends only on the labels, their order and the seed: the rows of each label are
    shuffled with a seeded generator and cut at the cumulative fractions.
    """
    _check_fractions(fractions)
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        by_label[label].append(index)

    assignment = [""] * len(labels)
    for label in sorted(by_label):
        indices = np.array(by_label[label])
        rng.shuffle(indices)
        n_train = int(round(fractions[0] * len(indices)))
        n_validation = int(round(fractions[1] * len(indices)))
        for position, index in enumerate(indices):
            if position < n_train:
                assignment[index] = "train"
            elif position < n_train + n_validation:
                assignment[index] = "validation"
            else:
                assignment[index] = "test"
    return assignment


def time_split(created: Sequence[str | None], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> list[str]:
    """Assign the oldest questions to train and the newest to validation, then test.

    Ties and missing dates keep input order, so the result is deterministic.
    """
    _check_fractions(fractions)
    missing = [i for i, value in enumerate(created) if not value]
    if missing:
        raise ValueError(f"{len(missing)} questions have no creation date (first at row {missing[0] + 1}); a time split needs one on every question")
    order = sorted(range(len(created)), key=lambda i: (created[i], i))
    n_train = int(round(fractions[0] * len(order)))
    n_validation = int(round(fractions[1] * len(order)))
    assignment = [""] * len(created)
    for position, index in enumerate(order):
        if position < n_train:
            assignment[index] = "train"
        elif position < n_train + n_validation:
            assignment[index] = "validation"
        else:
            assignment[index] = "test"
    return assignment


def _check_fractions(fractions: tuple[float, float, float]) -> None:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"invalid split fractions {fractions}: give three non-negative numbers that sum to 1, e.g. 0.8,0.1,0.1")
