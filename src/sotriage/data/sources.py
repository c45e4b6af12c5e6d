"""Pick the reader for a question source by its name and contents.

    folder with Posts.xml, Posts.xml or any .xml     -> Stack Exchange dump reader
    .csv / .csv.gz with the Kaggle columns            -> Kaggle reader (unless column options are given)
    other .csv / .csv.gz / .jsonl(.gz) / .parquet     -> generic reader (needs --title/--body/--label-column)
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..errors import InputError
from .generic import FORMAT_SUFFIXES, GenericColumns, file_format, read_columns, read_generic
from .kaggle import REQUIRED_COLUMNS as KAGGLE_COLUMNS
from .kaggle import read_kaggle_csv
from .schema import Question
from .stackexchange import POSTS_FILE, read_stackexchange_dump

SOURCE_KINDS = ("stackexchange", "kaggle", "generic")


def source_kind(source: str | Path, columns: GenericColumns | None = None) -> str:
    """Return "stackexchange", "kaggle" or "generic" for `source`, or raise InputError saying what fits."""
    source = Path(source)
    if source.is_dir():
        if (source / POSTS_FILE).is_file():
            return "stackexchange"
        raise InputError(
            f"{source}: folder has no {POSTS_FILE}. Pass a question file (.xml, .csv, .csv.gz, .jsonl, .jsonl.gz, .parquet) "
            "or the folder of an unpacked Stack Exchange dump."
        )
    if not source.exists():
        raise InputError(f"{source}: file not found.")
    if source.name.lower().endswith(".xml"):
        return "stackexchange"
    kind = file_format(source)
    if kind is None:
        raise InputError(
            f"{source}: unsupported file type. Use a Stack Exchange Posts.xml (or its folder), or one of: "
            f"{', '.join(FORMAT_SUFFIXES)}."
        )
    if columns is not None:
        return "generic"
    found = read_columns(source)
    if kind == "csv" and all(name in found for name in KAGGLE_COLUMNS):
        return "kaggle"
    raise InputError(
        f"{source}: not in the Kaggle schema (columns found: {', '.join(found) or 'none'}). For other files name the "
        "columns: --title-column, --body-column and --label-column are required, e.g. "
        "--title-column title --body-column body --label-column status."
    )


def open_source(
    source: str | Path,
    labels: str = "binary",
    code: str = "keep",
    max_rows: int | None = None,
    columns: GenericColumns | None = None,
    keep_duplicates: bool = False,
    dump_reputation: bool = False,
    progress: bool = True,
) -> Iterable[Question]:
    """Return an iterable of questions from `source`; dump readers also carry `.stats` after a pass."""
    kind = source_kind(source, columns)
    if kind != "stackexchange" and (keep_duplicates or dump_reputation):
        option = "--keep-duplicates" if keep_duplicates else "--dump-reputation"
        raise InputError(f"{option} applies to Stack Exchange dumps only, and {source} is a {kind} file. Leave the option out.")
    if kind == "stackexchange":
        if columns is not None:
            raise InputError(f"{source}: column options (--title-column ...) apply to CSV / JSONL / Parquet files, not to a Stack Exchange dump. Leave them out.")
        return read_stackexchange_dump(
            source, labels=labels, code=code, keep_duplicates=keep_duplicates,
            dump_reputation=dump_reputation, max_rows=max_rows, progress=progress,
        )
    if kind == "kaggle":
        return read_kaggle_csv(source, code=code, max_rows=max_rows)
    assert columns is not None
    return read_generic(source, columns, code=code, max_rows=max_rows)
