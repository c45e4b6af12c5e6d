"""Reader for the `Posts.xml` of a Stack Exchange data dump, with close reasons from `PostHistory.xml`.

Every Stack Exchange site publishes a dump: one XML file per table, rows as `<row .../>` elements
whose attributes are the columns. The files are streamed with lxml's `iterparse`, and each row is
cleared (with the rows before it) once read, so memory stays flat for a multi-gigabyte file.

What a question gets from each file:
    Posts.xml        id, title, body (HTML turned into text), tags, created, closed or open:
                     rows with PostTypeId="1" are questions, a ClosedDate attribute marks closed ones.
    PostHistory.xml  (optional, beside Posts.xml) the close reason: the close events
                     (PostHistoryTypeId="10") hold the reason id in `Comment`; the last event at
                     or before ClosedDate counts, since a question can be closed, reopened and closed again.
    Users.xml        (optional, beside Posts.xml) account_age_days at post time from the owner's
                     CreationDate. With `dump_reputation=True` also the owner's reputation *at dump
                     time*, not at post time. It includes everything the user did later, including
                     the effect of this question being closed, so it leaks the label.
Posts.xml has no asker answer count at post time (its AnswerCount counts answers to the question),
so `answer_count` stays None.

Close reason ids map to the Kaggle OpenStatus values (the five-class task) as follows:
    1 exact duplicate, 101 duplicate                     -> duplicate (not a Kaggle label, see below)
    2 off topic, 102 off-topic                           -> off topic
    3 subjective and argumentative                       -> not constructive
    105 primarily opinion-based                          -> not constructive
    4 not a real question                                -> not a real question
    103 unclear what you're asking, 104 too broad        -> not a real question
    7 too localized                                      -> too localized
Other ids (10 general reference, 20 noise or pointless, site-specific reasons) are unmapped: such
questions stay "closed" for the binary task and are left out (counted) of the five-class task.
Duplicates are left out by default (counted); `keep_duplicates=True` keeps them as "closed" for
the binary task. Without PostHistory.xml duplicates cannot be identified and stay in as "closed".
"""

from __future__ import annotations

import logging
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np

from ..errors import InputError
from .html_text import html_to_text
from .schema import LABEL_SETS, Question
from .text import CODE_MODES

log = logging.getLogger(__name__)

POSTS_FILE = "Posts.xml"
POST_HISTORY_FILE = "PostHistory.xml"
USERS_FILE = "Users.xml"

QUESTION_POST_TYPE = "1"
CLOSE_EVENT_TYPE = "10"
DUPLICATE = "duplicate"
CLOSE_REASONS = {
    1: DUPLICATE,
    2: "off topic",
    3: "not constructive",
    4: "not a real question",
    7: "too localized",
    101: DUPLICATE,
    102: "off topic",
    103: "not a real question",
    104: "not a real question",
    105: "not constructive",
}
# A close event and the ClosedDate it sets are written by the same action; the slack covers
# timestamps that differ in their milliseconds.
CLOSE_EVENT_SLACK_MS = 1_000
_MS_PER_DAY = 86_400_000
_MISSING = -1  # marks a missing or non-numeric value in the int64 arrays below


@dataclass
class DumpImportStats:
    """Counts of one pass over a dump, logged at the end and stored in dataset.json."""

    posts: int = 0
    questions: int = 0
    closed: int = 0
    imported: int = 0
    close_reasons: dict[str, int] = field(default_factory=dict)
    duplicates_dropped: int = 0
    duplicates_kept: int = 0
    # Close reason ids that map to no Kaggle label, with how many questions have each.
    unmapped_reason_ids: dict[str, int] = field(default_factory=dict)
    unmapped_dropped: int = 0
    closed_without_close_event: int = 0
    owners_not_in_users: int = 0

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


class _CountingReader:
    """Binary file wrapper that counts the bytes the parser has read and advances a progress bar."""

    def __init__(self, handle, progress) -> None:
        self.handle = handle
        self.progress = progress
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.bytes_read += len(data)
        if self.progress is not None:
            self.progress.update(len(data))
        return data


def iter_dump_rows(path: Path, root_tag: str, progress: bool = True, counter: list | None = None) -> Iterator[Mapping[str, str]]:
    """Stream the attributes of each `<row>` of a dump file whose root element is `root_tag`.

    Each yielded mapping is valid only until the next row is requested, because the row is then
    cleared to keep memory flat. `counter`, when given, receives the `_CountingReader` so a caller
    can follow the bytes read. Raises InputError for an empty, truncated or malformed file and for
    a file with another root element.
    """
    from lxml import etree
    from tqdm import tqdm

    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path}: the file is empty. Extract {path.name} from the dump's .7z archive again.")

    bar = tqdm(total=size, desc=f"reading {path.name}", unit="B", unit_scale=True, disable=None if progress else True)
    with open(path, "rb") as handle, bar:
        reader = _CountingReader(handle, bar)
        if counter is not None:
            counter.append(reader)
        # huge_tree: a single Body attribute can exceed libxml2's default 10 MB text limit.
        context = etree.iterparse(reader, events=("end",), tag="row", huge_tree=True)
        checked_root = False
        try:
            for _, element in context:
                if not checked_root:
                    _check_root(path, element.getparent(), root_tag)
                    checked_root = True
                yield element.attrib
                # Free the row and every row before it; the root keeps no children.
                element.clear(keep_tail=True)
                while element.getprevious() is not None:
                    del element.getparent()[0]
        except etree.XMLSyntaxError as error:
            raise _syntax_error(path, error, rows_seen=checked_root) from None
        if not checked_root:
            _check_root(path, context.root, root_tag)


def _check_root(path: Path, root, root_tag: str) -> None:
    found = None if root is None else root.tag
    if found != root_tag:
        raise InputError(
            f"{path}: not a Stack Exchange {_file_for_root(root_tag)}: the root element is <{found}>, expected <{root_tag}>. "
            f"Pass the {_file_for_root(root_tag)} of an unpacked dump (or the folder that contains it)."
        )


def _file_for_root(root_tag: str) -> str:
    return {"posts": POSTS_FILE, "posthistory": POST_HISTORY_FILE, "users": USERS_FILE}.get(root_tag, f"<{root_tag}> file")


def _syntax_error(path: Path, error, rows_seen: bool) -> InputError:
    line, column = error.position
    message = str(error.msg).split(", line ")[0]
    # A dump has one row per line, so an error on the last line of a multi-line file means it was cut short.
    if line >= _count_lines(path) and (rows_seen or line > 1):
        hint = (
            f"The file ends in the middle of the XML, so it is truncated (an interrupted download or extraction). "
            f"Extract {path.name} from the dump's .7z archive again."
        )
    else:
        hint = f"The file is corrupt at that point. Extract {path.name} from the dump's .7z archive again; do not edit dump files by hand."
    return InputError(f"{path}: invalid XML at line {line}, column {column}: {message}. {hint}")


def _count_lines(path: Path) -> int:
    lines = 1
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 24):
            lines += chunk.count(b"\n")
    return lines


def parse_tags(value: str | None) -> list[str]:
    """Split a Tags attribute: `<python><pandas>` in older dumps, `|python|pandas|` in newer ones."""
    if not value:
        return []
    value = value.strip()
    if value.startswith("<"):
        return [tag.strip() for tag in value.replace(">", "").split("<") if tag.strip()]
    if "|" in value:
        return [tag.strip() for tag in value.split("|") if tag.strip()]
    return value.split()


def _epoch_ms(value: str | None) -> int:
    """Milliseconds since 1970 of a dump timestamp like 2015-01-27T20:09:32.720, or _MISSING."""
    if not value:
        return _MISSING
    try:
        return int(np.datetime64(value.strip(), "ms").astype(np.int64))
    except ValueError:
        return _MISSING


def _int(value: str | None) -> int:
    try:
        return int(value) if value is not None else _MISSING
    except ValueError:
        return _MISSING


class CloseEvents:
    """The close events of PostHistory.xml as sorted arrays: post id, time (ms), reason id."""

    def __init__(self, post_ids: np.ndarray, times: np.ndarray, reasons: np.ndarray) -> None:
        order = np.lexsort((times, post_ids))
        self.post_ids = post_ids[order]
        self.times = times[order]
        self.reasons = reasons[order]

    @classmethod
    def read(cls, path: Path, progress: bool = True) -> "CloseEvents":
        post_ids, times, reasons = array("q"), array("q"), array("q")
        for row in iter_dump_rows(path, "posthistory", progress):
            if row.get("PostHistoryTypeId") != CLOSE_EVENT_TYPE:
                continue
            post_ids.append(_int(row.get("PostId")))
            times.append(_epoch_ms(row.get("CreationDate")))
            reasons.append(_int(row.get("Comment")))
        log.info("%s: %d close events", path, len(post_ids))
        return cls(np.array(post_ids, np.int64), np.array(times, np.int64), np.array(reasons, np.int64))

    def reason_id(self, post_id: int, closed_ms: int) -> int | None:
        """Return the reason id of the last close event at or before the ClosedDate, None if none.

        Returns _MISSING when that event has no numeric reason id.
        """
        start = np.searchsorted(self.post_ids, post_id, side="left")
        end = np.searchsorted(self.post_ids, post_id, side="right")
        if start == end:
            return None
        times = self.times[start:end]
        limit = closed_ms + CLOSE_EVENT_SLACK_MS if closed_ms != _MISSING else np.iinfo(np.int64).max
        before = np.nonzero(times <= limit)[0]
        if before.size == 0:
            return None
        return int(self.reasons[start + before[-1]])


class DumpUsers:
    """Owner id -> (reputation at dump time, account creation time in ms) from Users.xml."""

    def __init__(self, ids: np.ndarray, reputation: np.ndarray, created: np.ndarray) -> None:
        order = np.argsort(ids, kind="stable")
        self.ids = ids[order]
        self.reputation = reputation[order]
        self.created = created[order]

    @classmethod
    def read(cls, path: Path, progress: bool = True) -> "DumpUsers":
        ids, reputation, created = array("q"), array("q"), array("q")
        for row in iter_dump_rows(path, "users", progress):
            ids.append(_int(row.get("Id")))
            reputation.append(_int(row.get("Reputation")))
            created.append(_epoch_ms(row.get("CreationDate")))
        log.info("%s: %d users", path, len(ids))
        return cls(np.array(ids, np.int64), np.array(reputation, np.int64), np.array(created, np.int64))

    def lookup(self, user_id: int) -> tuple[int, int] | None:
        index = int(np.searchsorted(self.ids, user_id))
        if index >= len(self.ids) or self.ids[index] != user_id:
            return None
        return int(self.reputation[index]), int(self.created[index])


def find_posts_file(source: str | Path) -> Path:
    """Return the Posts.xml of `source`: the file itself, or Posts.xml inside a dump folder."""
    source = Path(source)
    if source.is_dir():
        posts = source / POSTS_FILE
        if not posts.is_file():
            raise InputError(f"{source}: folder has no {POSTS_FILE}. Pass the folder of an unpacked Stack Exchange dump, or a file.")
        return posts
    if not source.is_file():
        raise InputError(f"{source}: file not found. Pass the Posts.xml of an unpacked Stack Exchange dump, or its folder.")
    return source


class StackExchangeDump:
    """Iterable of the questions of a dump; `stats` contains the counts after a full pass.

    `labels` decides what a closed question needs: "binary" takes every closed question,
    "reasons" needs PostHistory.xml and leaves out questions whose close reason is unknown.
    """

    def __init__(
        self,
        source: str | Path,
        labels: str = "binary",
        code: str = "keep",
        keep_duplicates: bool = False,
        dump_reputation: bool = False,
        max_rows: int | None = None,
        progress: bool = True,
    ) -> None:
        if labels not in LABEL_SETS:
            raise InputError(f"invalid labels {labels!r}: use one of {', '.join(LABEL_SETS)}")
        if code not in CODE_MODES:
            raise InputError(f"invalid code mode {code!r}: use one of {', '.join(CODE_MODES)}")
        self.posts_path = find_posts_file(source)
        history = self.posts_path.parent / POST_HISTORY_FILE
        users = self.posts_path.parent / USERS_FILE
        self.history_path = history if history.is_file() else None
        self.users_path = users if users.is_file() else None
        if labels == "reasons" and self.history_path is None:
            raise InputError(
                f"{self.posts_path}: --labels reasons needs the close reasons from {POST_HISTORY_FILE}, "
                f"which is not in {self.posts_path.parent}. Put the dump's {POST_HISTORY_FILE} beside {self.posts_path.name}, "
                "or use --labels binary."
            )
        if keep_duplicates and labels != "binary":
            raise InputError("--keep-duplicates works only with --labels binary: duplicates have no five-class label.")
        if dump_reputation and self.users_path is None:
            raise InputError(f"--dump-reputation needs {USERS_FILE} beside {self.posts_path}; it is not in {self.posts_path.parent}.")
        self.labels = labels
        self.code = code
        self.keep_duplicates = keep_duplicates
        self.dump_reputation = dump_reputation
        self.max_rows = max_rows
        self.progress = progress
        self.stats = DumpImportStats()
        self._counter: list[_CountingReader] = []

    @property
    def bytes_read(self) -> int:
        """Bytes of Posts.xml the parser has read so far."""
        return self._counter[-1].bytes_read if self._counter else 0

    def __iter__(self) -> Iterator[Question]:
        self.stats = DumpImportStats()
        self._counter = []
        close_events = CloseEvents.read(self.history_path, self.progress) if self.history_path else None
        users = DumpUsers.read(self.users_path, self.progress) if self.users_path else None
        if close_events is None:
            log.warning("%s: %s not found beside it, so questions closed as duplicates cannot be identified and stay in as closed", self.posts_path, POST_HISTORY_FILE)

        rows = iter_dump_rows(self.posts_path, "posts", self.progress, self._counter)
        try:
            for row in rows:
                self.stats.posts += 1
                if row.get("PostTypeId") != QUESTION_POST_TYPE:
                    continue
                question = self._question(row, close_events, users)
                if question is None:
                    continue
                self.stats.imported += 1
                yield question
                if self.max_rows is not None and self.stats.imported >= self.max_rows:
                    break
        finally:
            rows.close()
        self._log_stats()

    def _question(self, row: Mapping[str, str], close_events: CloseEvents | None, users: DumpUsers | None) -> Question | None:
        stats = self.stats
        stats.questions += 1
        status = self._status(row, close_events)
        if status is None:
            return None

        created = row.get("CreationDate")
        created_ms = _epoch_ms(created)
        reputation = account_age = None
        owner_id = row.get("OwnerUserId")
        # Questions of deleted accounts have no OwnerUserId; -1 is the Community user, a real row.
        if users is not None and owner_id is not None:
            owner = users.lookup(_int(owner_id))
            if owner is None:
                stats.owners_not_in_users += 1
            else:
                owner_reputation, owner_created = owner
                if self.dump_reputation and owner_reputation != _MISSING:
                    reputation = float(owner_reputation)
                if owner_created != _MISSING and created_ms != _MISSING:
                    account_age = max(0.0, (created_ms - owner_created) / _MS_PER_DAY)
        return Question(
            id=row.get("Id", ""),
            title=(row.get("Title") or "").strip(),
            body=html_to_text(row.get("Body") or "", code=self.code),
            tags=parse_tags(row.get("Tags")),
            status=status,
            created=_iso(created_ms),
            reputation=reputation,
            answer_count=None,
            account_age_days=account_age,
        )

    def _status(self, row: Mapping[str, str], close_events: CloseEvents | None) -> str | None:
        """Return the question's status, or None when the question is left out (and counted)."""
        stats = self.stats
        closed_date = row.get("ClosedDate")
        if not closed_date:
            return "open"
        stats.closed += 1
        if close_events is None:
            return "closed"

        reason_id = close_events.reason_id(_int(row.get("Id")), _epoch_ms(closed_date))
        if reason_id is None:
            stats.closed_without_close_event += 1
            return self._unknown_reason()
        reason = CLOSE_REASONS.get(reason_id)
        if reason is None:
            key = "missing" if reason_id == _MISSING else str(reason_id)
            stats.unmapped_reason_ids[key] = stats.unmapped_reason_ids.get(key, 0) + 1
            return self._unknown_reason()
        if reason == DUPLICATE:
            if self.keep_duplicates:
                stats.duplicates_kept += 1
                return "closed"
            stats.duplicates_dropped += 1
            return None
        stats.close_reasons[reason] = stats.close_reasons.get(reason, 0) + 1
        return reason

    def _unknown_reason(self) -> str | None:
        if self.labels == "binary":
            return "closed"
        self.stats.unmapped_dropped += 1
        return None

    def _log_stats(self) -> None:
        stats = self.stats
        log.info(
            "%s: %d posts, %d questions, %d closed, %d imported, close reasons %s",
            self.posts_path, stats.posts, stats.questions, stats.closed, stats.imported, stats.close_reasons,
        )
        if stats.duplicates_dropped:
            log.info("left out %d questions closed as duplicates (keep them as closed with --keep-duplicates)", stats.duplicates_dropped)
        if stats.unmapped_reason_ids:
            log.warning("close reason ids with no Kaggle label (id: questions): %s", dict(Counter(stats.unmapped_reason_ids).most_common()))
        if stats.closed_without_close_event:
            log.warning("%d closed questions have no close event in %s", stats.closed_without_close_event, POST_HISTORY_FILE)
        if stats.unmapped_dropped:
            log.warning("left out %d closed questions whose close reason is unknown (five-class task)", stats.unmapped_dropped)


def _iso(epoch_ms: int) -> str | None:
    if epoch_ms == _MISSING:
        return None
    return str(np.datetime64(epoch_ms, "ms").astype("datetime64[s]"))


def read_stackexchange_dump(source: str | Path, **options) -> StackExchangeDump:
    """Open a dump for reading: `source` is Posts.xml or the folder that contains it.

    Options are those of `StackExchangeDump`. Errors about missing companion files are raised
    here; errors in the XML are raised while iterating.
    """
    return StackExchangeDump(source, **options)
