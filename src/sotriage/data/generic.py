"""Reader for question files in any column layout: CSV, JSON Lines or Parquet.

Supported files: `.csv`, `.csv.gz`, `.jsonl`, `.jsonl.gz`, `.parquet`. The caller names the
title, body and label columns (`GenericColumns`); tags, id, creation date and asker metadata
columns are optional. Label values map to a status: the five Kaggle OpenStatus values and
"closed" are taken as they are (case-insensitive), and a label map (`spam=closed,ok=open`)
renames any other value first. Text files must be UTF-8 (a leading byte order mark is allowed).
"""

from __future__ import annotations

import codecs
import gzip
import html
import io
import itertools
import json
import logging
import math
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from ..errors import InputError, missing_extra
from .html_text import html_to_text
from .schema import REASON_LABELS, Question
from .stackexchange import parse_tags
from .text import CODE_MODES, clean_markdown

log = logging.getLogger(__name__)

BODY_FORMATS = ("markdown", "html", "text")
FORMAT_SUFFIXES = {".csv": "csv", ".csv.gz": "csv", ".jsonl": "jsonl", ".jsonl.gz": "jsonl", ".parquet": "parquet"}
STATUSES = (*REASON_LABELS, "closed")
_KAGGLE_DATE_FORMAT = "%m/%d/%Y %H:%M:%S"
# Numeric dates above this are taken as milliseconds since 1970, below it as seconds
# (1e11 seconds is the year 5138, 1e11 milliseconds is March 1973).
_EPOCH_MS_THRESHOLD = 1e11
_CHUNK_BYTES = 1 << 20
_JSONL_HEADER_RECORDS = 1_000


@dataclass
class GenericColumns:
    """Column names of the question fields, for CSV / JSONL / Parquet files not in the Kaggle schema."""

    title: str | None = None
    body: str | None = None
    label: str | None = None
    tags: str | None = None
    id: str | None = None
    created: str | None = None
    reputation: str | None = None
    answers: str | None = None
    account_age: str | None = None
    body_format: str = "markdown"
    # Raw label value -> status (open, closed or one of the five OpenStatus values).
    label_map: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.body_format not in BODY_FORMATS:
            raise InputError(f"invalid --body-format {self.body_format!r}: use one of {', '.join(BODY_FORMATS)}")
        for value, status in self.label_map.items():
            if status not in STATUSES:
                raise InputError(
                    f"invalid --label-map entry {value}={status}: the target must be one of {', '.join(STATUSES)}"
                )

    def check_required(self, path: Path) -> None:
        missing = [f"--{name}-column" for name in ("title", "body", "label") if not getattr(self, name)]
        if missing:
            raise InputError(
                f"{path}: the generic importer needs {', '.join(missing)}. Name the columns that hold the title, "
                "the body and the label, e.g. --title-column title --body-column body --label-column status."
            )

    def named_columns(self) -> dict[str, str]:
        """Option name -> column name, for every column option that is set."""
        names = ("title", "body", "label", "tags", "id", "created", "reputation", "answers", "account_age")
        return {f"--{name.replace('_', '-')}-column": getattr(self, name) for name in names if getattr(self, name)}


def parse_label_map(text: str | None) -> dict[str, str]:
    """Parse `--label-map 'spam=closed,ok=open'` into {"spam": "closed", "ok": "open"}."""
    mapping: dict[str, str] = {}
    if not text:
        return mapping
    for entry in text.split(","):
        if not entry.strip():
            continue
        value, sep, status = entry.partition("=")
        if not sep or not value.strip():
            raise InputError(f"invalid --label-map entry {entry!r}: write VALUE=STATUS pairs separated by commas, e.g. 'spam=closed,ok=open'")
        status = status.strip().lower()
        if status not in STATUSES:
            raise InputError(f"invalid --label-map entry {entry!r}: the target {status!r} must be one of {', '.join(STATUSES)}")
        mapping[value.strip()] = status
    return mapping


def file_format(path: str | Path) -> str | None:
    """Return "csv", "jsonl" or "parquet" from the file name, None for other files."""
    name = Path(path).name.lower()
    for suffix, kind in FORMAT_SUFFIXES.items():
        if name.endswith(suffix):
            return kind
    return None


# --- reading bytes as checked UTF-8 ---------------------------------------------------------------


class _Utf8Stream(io.TextIOBase):
    """Text stream over a binary file that raises InputError with the byte offset of invalid UTF-8."""

    def __init__(self, raw, path: Path) -> None:
        self.raw = raw
        self.path = path
        self.decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.bytes_before = 0  # bytes handed to the decoder before the current block
        self.lines_before = 1
        self.started = False

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        while True:
            block = _read_raw(self.raw, self.path, size if size and size > 0 else _CHUNK_BYTES)
            pending, _ = self.decoder.getstate()
            try:
                text = self.decoder.decode(block, final=not block)
            except UnicodeDecodeError as error:
                data = pending + block
                offset = self.bytes_before - len(pending) + error.start
                line = self.lines_before + data[: error.start].count(b"\n")
                raise _encoding_error(self.path, offset, line, data[error.start : error.end]) from None
            self.bytes_before += len(block)
            self.lines_before += block.count(b"\n")
            if not self.started and text:
                text = text.removeprefix("\ufeff")
                self.started = True
            if text or not block:
                return text


def _read_raw(raw, path: Path, size: int) -> bytes:
    try:
        return raw.read(size)
    except (OSError, EOFError, zlib.error) as error:
        raise InputError(f"{path}: decompression failed ({error}). The .gz file is truncated or not gzip data; create it again.") from None


def _encoding_error(path: Path, offset: int, line: int, bad: bytes) -> InputError:
    where = "of the uncompressed data " if path.name.lower().endswith(".gz") else ""
    return InputError(
        f"{path}: not valid UTF-8 at byte offset {offset} {where}(line {line}, byte {bad.hex(' ')}). "
        f"Re-encode the file to UTF-8, e.g. iconv -f cp1252 -t utf-8 {path.name} > utf8-{path.name} "
        "(use the file's actual source encoding after -f)."
    )


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


# --- records from each file format -----------------------------------------------------------------


def read_columns(path: str | Path) -> list[str]:
    """Return the column names of a CSV header, the first 1,000 JSONL records or a Parquet schema."""
    path = _existing(path)
    kind = file_format(path)
    if kind == "csv":
        with _open_binary(path) as raw:
            return list(_csv_reader(path, raw, nrows=0).columns)
    if kind == "jsonl":
        # JSONL records may leave out optional keys, so the columns are the keys of the first records together.
        keys: dict[str, None] = {}
        for _, record in itertools.islice(_jsonl_records(path), _JSONL_HEADER_RECORDS):
            keys.update(dict.fromkeys(record))
        if not keys:
            raise InputError(f"{path}: the file is empty. Expected one JSON object per line.")
        return list(keys)
    if kind == "parquet":
        return list(_parquet_file(path).schema_arrow.names)
    raise InputError(f"{path}: unsupported file type. Use one of: {', '.join(FORMAT_SUFFIXES)}.")


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found.")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty. Expected a header row (CSV), JSON objects (JSONL) or a Parquet table.")
    return path


def _csv_reader(path: Path, raw, **options):
    import pandas as pd

    try:
        return pd.read_csv(_Utf8Stream(raw, path), dtype=str, keep_default_na=False, **options)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the file is empty. Expected a CSV with a header row and questions.") from None
    except pd.errors.ParserError as error:
        raise InputError(f"{path}: not a readable CSV ({error}). Check the quoting and the delimiter (a comma is expected).") from None


def _csv_records(path: Path, chunk_rows: int = 20_000) -> Iterator[tuple[str, dict]]:
    import pandas as pd

    with _open_binary(path) as raw:
        reader = _csv_reader(path, raw, chunksize=chunk_rows)
        row_number = 0
        while True:
            try:
                chunk = next(reader, None)
            except pd.errors.ParserError as error:
                raise InputError(f"{path}: reading failed after data row {row_number} ({error}). Check the quoting near that row.") from None
            if chunk is None:
                return
            for record in chunk.to_dict("records"):
                row_number += 1
                yield f"data row {row_number}", record


def _jsonl_records(path: Path) -> Iterator[tuple[str, dict]]:
    with _open_binary(path) as raw:
        offset = 0
        line_number = 0
        while True:
            line = _read_line(raw, path)
            if not line:
                return
            line_number += 1
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as error:
                raise _encoding_error(path, offset + error.start, line_number, line[error.start : error.end]) from None
            offset += len(line)
            if line_number == 1:
                text = text.removeprefix("\ufeff")
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as error:
                raise InputError(f"{path}: line {line_number}: invalid JSON ({error.msg} at column {error.colno}). Each line must be one JSON object.") from None
            if not isinstance(record, dict):
                raise InputError(f"{path}: line {line_number}: expected a JSON object, found {type(record).__name__}. Each line must be one JSON object.")
            yield f"line {line_number}", record


def _read_line(raw, path: Path) -> bytes:
    try:
        return raw.readline()
    except (OSError, EOFError, zlib.error) as error:
        raise InputError(f"{path}: decompression failed ({error}). The .gz file is truncated or not gzip data; create it again.") from None


def _parquet_file(path: Path):
    try:
        import pyarrow
        import pyarrow.parquet as pq
    except ImportError:
        raise missing_extra("pyarrow", "parquet") from None
    try:
        return pq.ParquetFile(path)
    except (pyarrow.ArrowException, OSError) as error:
        raise InputError(f"{path}: not a readable Parquet file ({error}). Write it again, e.g. with pandas DataFrame.to_parquet.") from None


def _parquet_records(path: Path, columns: list[str], batch_rows: int = 10_000) -> Iterator[tuple[str, dict]]:
    parquet = _parquet_file(path)
    row_number = 0
    for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
        for record in batch.to_pylist():
            row_number += 1
            yield f"data row {row_number}", record


def _check_columns(path: Path, columns: GenericColumns, found: list[str]) -> None:
    missing = {option: name for option, name in columns.named_columns().items() if name not in found}
    if missing:
        listed = ", ".join(f"{name!r} ({option})" for option, name in missing.items())
        raise InputError(f"{path}: column(s) not found: {listed}. Columns in the file: {', '.join(found) or 'none'}.")


# --- turning a record into a Question ------------------------------------------------------------


def read_generic(path: str | Path, columns: GenericColumns, code: str = "keep", max_rows: int | None = None) -> Iterator[Question]:
    """Yield questions from a CSV / JSONL / Parquet file with the columns named in `columns`.

    Raises InputError naming the file, the row or line and the fix for an empty file, invalid UTF-8,
    a missing column, an unknown label value, or a date or number that does not parse.
    """
    if code not in CODE_MODES:
        raise InputError(f"invalid code mode {code!r}: use one of {', '.join(CODE_MODES)}")
    path = _existing(path)
    kind = file_format(path)
    if kind is None:
        raise InputError(f"{path}: unsupported file type. Use one of: {', '.join(FORMAT_SUFFIXES)}.")
    columns.check_required(path)
    _check_columns(path, columns, read_columns(path))

    if kind == "csv":
        records = _csv_records(path)
    elif kind == "jsonl":
        records = _jsonl_records(path)
    else:
        records = _parquet_records(path, sorted(set(columns.named_columns().values())))

    count = 0
    for where, record in records:
        yield _question(path, where, record, columns, code, count + 1)
        count += 1
        if max_rows is not None and count >= max_rows:
            return
    if count == 0:
        raise InputError(f"{path}: the file has no rows. Pass a file with questions in it.")


def _question(path: Path, where: str, record: dict, columns: GenericColumns, code: str, index: int) -> Question:
    def value(column: str | None, required: bool = False) -> Any:
        # JSONL records may leave out optional keys; those read as missing values.
        if column is None or (column not in record and not required):
            return None
        if column not in record:
            raise InputError(f"{path}: {where}: column {column!r} not found. Keys in that record: {', '.join(record) or 'none'}.")
        return record[column]

    title = _text(value(columns.title, required=True)).strip()
    body = _text(value(columns.body, required=True))
    if columns.body_format == "html":
        title = html.unescape(title)
        body = html_to_text(body, code=code)
    elif columns.body_format == "markdown":
        body = clean_markdown(body, code=code)
    else:
        body = body.replace("\r\n", "\n").replace("\r", "\n").strip()

    identifier = _text(value(columns.id)).strip() if columns.id else ""
    return Question(
        id=identifier or f"row-{index}",
        title=title,
        body=body,
        tags=split_tags(value(columns.tags)),
        status=map_label(path, where, columns.label or "", value(columns.label, required=True), columns.label_map),
        created=parse_created(path, where, columns.created, value(columns.created)),
        reputation=_number(path, where, columns.reputation, value(columns.reputation)),
        answer_count=_number(path, where, columns.answers, value(columns.answers)),
        account_age_days=_number(path, where, columns.account_age, value(columns.account_age)),
    )


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    return "" if _is_missing(value) else str(value)


def split_tags(value: Any) -> list[str]:
    """Split tags given as a list, `<a><b>`, `|a|b|`, `a,b` or `a b`."""
    if _is_missing(value):
        return []
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        items = value.tolist() if hasattr(value, "tolist") else value
        return [str(tag).strip() for tag in items if not _is_missing(tag)]
    text = str(value).strip()
    if text.startswith(("<", "|")):
        return parse_tags(text)
    if "," in text:
        return [tag.strip() for tag in text.split(",") if tag.strip()]
    return text.split()


def map_label(path: Path, where: str, column: str, raw: Any, label_map: dict[str, str]) -> str:
    """Return the status of a raw label value, or raise InputError naming the --label-map fix."""
    value = _text(raw).strip()
    if isinstance(raw, bool):
        value = str(raw).lower()
    if value in label_map:
        return label_map[value]
    if value.lower() in STATUSES:
        return value.lower()
    if not value:
        raise InputError(f"{path}: {where}: empty label in column {column!r}. Every question needs a label; remove unlabelled rows.")
    raise InputError(
        f"{path}: {where}: unknown label {value!r} in column {column!r}. Known labels: {', '.join(STATUSES)}. "
        f"Map other values with --label-map, e.g. --label-map '{value}=closed'."
    )


def parse_created(path: Path, where: str, column: str | None, value: Any) -> str | None:
    """Return an ISO 8601 date (UTC, no zone) from a datetime, epoch number or date string."""
    if _is_missing(value):
        return None
    parsed: datetime | None = None
    if isinstance(value, datetime):
        parsed = value
    elif hasattr(value, "to_pydatetime"):
        parsed = value.to_pydatetime()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        parsed = _from_epoch(float(value))
    else:
        parsed = _parse_date_text(str(value).strip())
    if parsed is None:
        raise InputError(
            f"{path}: {where}: invalid date {value!r} in column {column!r}. Use ISO 8601 (2012-07-31T21:08:17), "
            "MM/DD/YYYY HH:MM:SS or seconds since 1970."
        )
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed.isoformat(timespec="seconds")


def _from_epoch(number: float) -> datetime | None:
    seconds = number / 1000.0 if abs(number) >= _EPOCH_MS_THRESHOLD else number
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _parse_date_text(text: str) -> datetime | None:
    try:
        return _from_epoch(float(text))
    except ValueError:
        pass
    try:
        # Python 3.10 does not accept a trailing "Z" for UTC.
        return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        pass
    try:
        return datetime.strptime(text, _KAGGLE_DATE_FORMAT)
    except ValueError:
        return None


def _number(path: Path, where: str, column: str | None, value: Any) -> float | None:
    if _is_missing(value):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{path}: {where}: invalid number {value!r} in column {column!r}. Use a plain number or leave the cell empty.") from None
    return None if math.isnan(number) else number
