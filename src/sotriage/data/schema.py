"""The question record shared by every importer, and the label sets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# The five OpenStatus values of the Kaggle "Predict Closed Questions on Stack Overflow" data.
REASON_LABELS = ("open", "not a real question", "off topic", "not constructive", "too localized")
BINARY_LABELS = ("open", "closed")
LABEL_SETS = {"binary": BINARY_LABELS, "reasons": REASON_LABELS}

# Asker metadata known at post time, in the order the models and baselines use them.
METADATA_FIELDS = ("reputation", "answer_count", "tag_count", "account_age_days")


@dataclass
class Question:
    """One question, with its text already cleaned to readable plain text."""

    id: str
    title: str
    body: str
    tags: list[str] = field(default_factory=list)
    # The OpenStatus value (one of REASON_LABELS), "closed" when only closure is known, or None.
    status: str | None = None
    created: str | None = None  # ISO 8601
    reputation: float | None = None
    answer_count: float | None = None
    account_age_days: float | None = None

    def metadata(self) -> dict[str, float | None]:
        return {
            "reputation": self.reputation,
            "answer_count": self.answer_count,
            "tag_count": float(len(self.tags)),
            "account_age_days": self.account_age_days,
        }

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "Question":
        known = {name: record[name] for name in cls.__dataclass_fields__ if name in record}
        known["tags"] = list(known.get("tags") or [])
        known["id"] = str(known.get("id", ""))
        return cls(**known)


def label_of(status: str | None, label_set: str) -> str:
    """Map an OpenStatus value to the label name of `label_set` ("binary" or "reasons")."""
    if status is None:
        raise ValueError("question has no status")
    if label_set == "binary":
        return "open" if status == "open" else "closed"
    return status
