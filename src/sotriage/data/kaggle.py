"""Reader for the Kaggle "Predict Closed Questions on Stack Overflow" CSV schema.

`train.csv` (about 3.4 million rows) and `train-sample.csv` (140,272 rows) share these columns;
both are read plain or gzip-compressed. Rows are streamed in chunks, so the full train.csv fits in
memory only as the cleaned questions, never as one raw DataFrame.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Iterator

import pandas as pd

from ..errors import InputError
from .schema import REASON_LABELS, Question
from .text import clean_markdown

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = (
    "PostId",
    "PostCreationDate",
    "OwnerCreationDate",
    "ReputationAtPostCreation",
    "OwnerUndeletedAnswerCountAtPostTime",
    "Title",
    "BodyMarkdown",
    "Tag1",
    "Tag2",
    "Tag3",
    "Tag4",
    "Tag5",
    "OpenStatus",
)
DATE_FORMAT = "%m/%d/%Y %H:%M:%S"


def _parse_date(value: object) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return datetime.strptime(value.strip(), DATE_FORMAT)
    except ValueError:
        return None


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if number != number else number  # NaN means missing


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def read_kaggle_csv(
    path: str | Path,
    code: str = "keep",
    max_rows: int | None = None,
    chunk_rows: int = 20_000,
) -> Iterator[Question]:
    """Yield cleaned questions from a Kaggle-schema CSV (`.csv` or `.csv.gz`).

    Raises InputError naming the file, the data row and the fix for a missing file, a missing
    column, an empty file or an OpenStatus value outside the five known ones.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found. Pass the path to train.csv or train-sample.csv.")

    try:
        reader = pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=chunk_rows, nrows=max_rows)
        first = next(reader, None)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the file is empty. Expected a CSV with a header row and questions.") from None
    except (UnicodeDecodeError, pd.errors.ParserError, OSError, EOFError) as error:
        raise InputError(f"{path}: not a readable CSV ({error}). Expected a UTF-8 CSV, optionally gzip-compressed.") from None

    if first is None or first.empty:
        columns = [] if first is None else list(first.columns)
        _check_columns(path, columns)
        raise InputError(f"{path}: the file has a header but no rows. Pass a file with questions in it.")
    _check_columns(path, list(first.columns))

    row_number = 0
    chunks = [first]
    while chunks:
        chunk = chunks.pop()
        for record in chunk.to_dict("records"):
            row_number += 1
            yield _question_from_row(path, row_number, record, code)
        try:
            following = next(reader, None)
        except (UnicodeDecodeError, pd.errors.ParserError, OSError, EOFError) as error:
            raise InputError(f"{path}: reading failed after data row {row_number} ({error}). The file may be truncated; download it again.") from None
        if following is not None:
            chunks.append(following)


def _check_columns(path: Path, columns: list[str]) -> None:
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)}. Found: {', '.join(columns) or 'no header'}. "
            "Expected the schema of Kaggle's train-sample.csv; for other files use the generic importer "
            "(sotriage data prepare FILE --title-column ... --body-column ... --label-column ...)."
        )


def _question_from_row(path: Path, row_number: int, row: dict, code: str) -> Question:
    status = _text(row.get("OpenStatus")).strip()
    if status not in REASON_LABELS:
        raise InputError(
            f"{path}: data row {row_number} (PostId {row.get('PostId')}): unknown OpenStatus {status!r}. "
            f"Expected one of: {', '.join(REASON_LABELS)}. Fix or remove that row."
        )
    created = _parse_date(row.get("PostCreationDate"))
    owner_created = _parse_date(row.get("OwnerCreationDate"))
    account_age = None
    if created is not None and owner_created is not None:
        account_age = max(0.0, (created - owner_created).total_seconds() / 86400.0)
    tags = [_text(row.get(f"Tag{i}")).strip() for i in range(1, 6)]
    return Question(
        id=_text(row.get("PostId")).strip() or f"row-{row_number}",
        title=_text(row.get("Title")).strip(),
        body=clean_markdown(_text(row.get("BodyMarkdown")), code=code),
        tags=[tag for tag in tags if tag],
        status=status,
        created=created.isoformat() if created else None,
        reputation=_number(row.get("ReputationAtPostCreation")),
        answer_count=_number(row.get("OwnerUndeletedAnswerCountAtPostTime")),
        account_age_days=account_age,
    )
