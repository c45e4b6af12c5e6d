"""`data inspect`: what a dataset or source file contains before training on it.

The report has counts per split and the label balance. Token lengths are those of the model input
before truncation (`[CLS] title [tags] [SEP] body [SEP]`), so the share over `max_length` is the
share that gets truncated. Exact duplicates have the same normalized title and body; near
duplicates are found with MinHash over word 5-gram shingles and checked with the exact Jaccard
similarity. Empty and very long texts are counted too.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..io import atomic_path, write_json
from .dataset import DATASET_FILE, load_dataset
from .generic import GenericColumns
from .schema import Question
from .split import SPLIT_NAMES
from .text import question_text

log = logging.getLogger(__name__)

PERCENTILES = (50, 75, 90, 95, 99)
ALL = "all"  # the split name of a source file, which has no splits yet


@dataclass
class InspectConfig:
    path: str
    model: str | None = None  # tokenizer: None = the bundled MiniLM
    max_length: int = 256
    batch_size: int = 512
    near_threshold: float = 0.8  # Jaccard similarity of word 5-gram sets
    shingle_words: int = 5
    very_long_factor: int = 4  # "very long" = more than this many times max_length tokens
    examples: int = 5
    # How to read a source file (ignored for a prepared dataset folder).
    code: str = "keep"
    max_rows: int | None = None
    columns: GenericColumns | None = None
    keep_duplicates: bool = False
    dump_reputation: bool = False

    def __post_init__(self) -> None:
        if self.max_length < 8:
            raise InputError(f"invalid --max-length {self.max_length}: use the model's input length, e.g. 256 or 512")
        if self.batch_size < 1:
            raise InputError(f"invalid --batch-size {self.batch_size}: use 1 or more")
        if not 0.0 < self.near_threshold <= 1.0:
            raise InputError(f"invalid --near-threshold {self.near_threshold}: use a Jaccard similarity in (0, 1], e.g. 0.8")
        if self.shingle_words < 1:
            raise InputError(f"invalid shingle_words {self.shingle_words}: use 1 or more")


@dataclass
class InspectedData:
    """Questions with their split names and label names, in one flat list."""

    kind: str  # "prepared dataset" or "source file"
    questions: list[Question] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    def split_names(self) -> list[str]:
        present = set(self.splits)
        return [name for name in (*SPLIT_NAMES, ALL) if name in present]


# --- reading ---------------------------------------------------------------------------------------


def load_questions(config: InspectConfig) -> InspectedData:
    """Read a prepared dataset folder (every split) or a source file (one split called "all")."""
    path = Path(config.path)
    if path.is_dir() and (path / DATASET_FILE).is_file():
        dataset = load_dataset(path)
        data = InspectedData("prepared dataset")
        names = dataset.label_names
        for split in SPLIT_NAMES:
            part = dataset.split(split)
            data.questions.extend(part.questions)
            data.splits.extend([split] * len(part))
            data.labels.extend(names[label] for label in part.labels)
        return data

    from tqdm import tqdm

    from .sources import open_source

    source = open_source(
        path, labels="binary", code=config.code, max_rows=config.max_rows, columns=config.columns,
        keep_duplicates=config.keep_duplicates, dump_reputation=config.dump_reputation,
    )
    questions = list(tqdm(source, desc="reading questions", unit=" q", disable=None))
    if not questions:
        raise InputError(f"{path}: no questions found.")
    # A source has statuses, not labels yet: the status is what --labels reasons would use.
    labels = [question.status or "unlabelled" for question in questions]
    return InspectedData("source file", questions, [ALL] * len(questions), labels)


# --- token lengths -----------------------------------------------------------------------------------


def token_lengths(questions: Sequence[Question], tokenizer, batch_size: int = 512) -> np.ndarray:
    """Untruncated model input length of each question: [CLS] title+tags [SEP] body [SEP]; shape (n,)."""
    from tqdm import tqdm

    lengths = np.zeros(len(questions), dtype=np.int64)
    with tqdm(total=len(questions), desc="tokenizing", unit=" q", disable=None) as progress:
        for start in range(0, len(questions), batch_size):
            batch = questions[start : start + batch_size]
            firsts, bodies = zip(*(question_text(q.title, q.body, q.tags) for q in batch))
            options = dict(add_special_tokens=False, verbose=False, return_attention_mask=False, return_token_type_ids=False)
            first_ids = tokenizer(list(firsts), **options)["input_ids"]
            body_ids = tokenizer(list(bodies), **options)["input_ids"]
            for offset, (first, body) in enumerate(zip(first_ids, body_ids)):
                lengths[start + offset] = len(first) + len(body) + 3
            progress.update(len(batch))
    return lengths


def length_summary(lengths: np.ndarray, max_length: int) -> dict:
    if lengths.size == 0:
        return {"count": 0}
    over = int(np.count_nonzero(lengths > max_length))
    summary = {f"p{p}": float(np.percentile(lengths, p)) for p in PERCENTILES}
    summary.update(
        count=int(lengths.size),
        mean=round(float(lengths.mean()), 1),
        max=int(lengths.max()),
        over_max_length=over,
        over_max_length_share=round(over / lengths.size, 4),
    )
    return summary


# --- duplicates ------------------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"\w+")


def normalized_text(question: Question) -> str:
    """Title and body lowercased with whitespace collapsed: the key of exact duplicates."""
    return _SPACES.sub(" ", f"{question.title}\n{question.body}".lower()).strip()


def exact_duplicate_groups(texts: Sequence[str]) -> list[list[int]]:
    """Indices of questions with the same normalized text, one list per group of two or more."""
    groups: dict[bytes, list[int]] = defaultdict(list)
    for index, text in enumerate(texts):
        if text:
            groups[hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()].append(index)
    return [members for members in groups.values() if len(members) > 1]


def _shingles(texts: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashed word k-gram shingles of every text, flat: (shingles (m,), start offset of each text (n+1,)).

    Texts shorter than k words get a single shingle of all their words; empty texts get none.
    """
    vocabulary: dict[str, int] = {}
    word_ids: list[int] = []
    starts = [0]
    for text in texts:
        words = _WORD.findall(text)
        word_ids.extend(vocabulary.setdefault(word, len(vocabulary) + 1) for word in words)
        starts.append(len(word_ids))
    ids = np.asarray(word_ids, dtype=np.uint64)
    word_starts = np.asarray(starts, dtype=np.int64)
    counts = np.diff(word_starts)

    # Shingle j of a text covers words j..j+k-1; texts with fewer than k words get one shorter shingle.
    shingle_counts = np.where(counts >= k, counts - k + 1, np.minimum(counts, 1))
    shingle_starts = np.concatenate([[0], np.cumsum(shingle_counts)])
    first_word = np.repeat(word_starts[:-1], shingle_counts) + (np.arange(shingle_counts.sum()) - np.repeat(shingle_starts[:-1], shingle_counts))
    width = np.repeat(np.minimum(counts, k), shingle_counts)
    hashes = np.zeros(first_word.size, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            inside = width > j
            position = np.where(inside, first_word + j, 0)
            word = ids[position] if ids.size else np.zeros_like(hashes)
            # Polynomial rolling hash; uint64 arithmetic wraps, which is what we want here.
            hashes = np.where(inside, hashes * np.uint64(1_000_003) + word, hashes)
        hashes = _mix64(hashes)
    return hashes, shingle_starts


def _mix64(values: np.ndarray) -> np.ndarray:
    """Apply the splitmix64 finalizer, which spreads nearby integers over all 64 bits."""
    with np.errstate(over="ignore"):
        values = (values ^ (values >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        values = (values ^ (values >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return values ^ (values >> np.uint64(31))


def minhash_signatures(shingles: np.ndarray, starts: np.ndarray, permutations: int = 64, seed: int = 0) -> np.ndarray:
    """MinHash signature of each text with at least one shingle; shape (texts, permutations), uint64.

    Rows of texts without shingles are all ones (the maximum), so they collide only with each other.
    """
    rng = np.random.default_rng(seed)
    multipliers = rng.integers(1, 1 << 62, size=permutations, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    offsets = rng.integers(0, 1 << 62, size=permutations, dtype=np.uint64)
    n = starts.size - 1
    signatures = np.full((n, permutations), np.iinfo(np.uint64).max, dtype=np.uint64)
    nonempty = np.nonzero(np.diff(starts) > 0)[0]
    if nonempty.size == 0:
        return signatures
    with np.errstate(over="ignore"):
        for p in range(permutations):
            permuted = _mix64(shingles * multipliers[p] + offsets[p])
            signatures[nonempty, p] = np.minimum.reduceat(permuted, starts[nonempty])
    return signatures


def near_duplicate_pairs(
    texts: Sequence[str], threshold: float = 0.8, k: int = 5, permutations: int = 64, bands: int = 16
) -> list[tuple[int, int, float]]:
    """Pairs (i, j, Jaccard) of texts whose word k-gram sets have Jaccard similarity >= threshold.

    MinHash with locality-sensitive hashing proposes candidates: `bands` bands of
    permutations/bands rows, so a pair with Jaccard 0.8 shares a band with probability
    1 - (1 - 0.8**4)**16 > 0.999 at the defaults. Every candidate is then checked with the exact
    Jaccard similarity of its shingle sets. Inside one bucket, a text is compared with the first
    member of each cluster found so far, which bounds the work on large buckets of template texts.
    """
    shingles, starts = _shingles(texts, k)
    signatures = minhash_signatures(shingles, starts, permutations)
    rows = permutations // bands
    has_shingles = np.diff(starts) > 0
    shingle_sets: dict[int, np.ndarray] = {}

    def shingle_set(index: int) -> np.ndarray:
        if index not in shingle_sets:
            shingle_sets[index] = np.unique(shingles[starts[index] : starts[index + 1]])
        return shingle_sets[index]

    def jaccard(a: int, b: int) -> float:
        first, second = shingle_set(a), shingle_set(b)
        common = np.intersect1d(first, second, assume_unique=True).size
        return common / (first.size + second.size - common)

    pairs: dict[tuple[int, int], float] = {}
    for band in range(bands):
        buckets: dict[bytes, list[int]] = defaultdict(list)
        block = np.ascontiguousarray(signatures[:, band * rows : (band + 1) * rows])
        for index in np.nonzero(has_shingles)[0]:
            buckets[block[index].tobytes()].append(int(index))
        for members in buckets.values():
            if len(members) < 2:
                continue
            representatives: list[int] = []
            for member in members:
                for representative in representatives:
                    key = (representative, member)
                    if key in pairs:
                        break
                    similarity = jaccard(representative, member)
                    if similarity >= threshold:
                        pairs[key] = similarity
                        break
                else:
                    representatives.append(member)
    return sorted((a, b, round(s, 4)) for (a, b), s in pairs.items())


def _components(n: int, pairs: Sequence[tuple[int, int, float]]) -> list[list[int]]:
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b, _ in pairs:
        parent[root(a)] = root(b)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        groups[root(i)].append(i)
    return [sorted(members) for members in groups.values() if len(members) > 1]


def duplicate_report(data: InspectedData, config: InspectConfig) -> dict:
    texts = [normalized_text(q) for q in data.questions]
    exact = exact_duplicate_groups(texts)
    # Near duplicates among one representative per exact group, so exact copies are not counted twice.
    in_exact = {i for group in exact for i in group[1:]}
    representatives = [i for i in range(len(texts)) if i not in in_exact]
    pairs = near_duplicate_pairs([texts[i] for i in representatives], config.near_threshold, config.shingle_words)
    near_groups = [[representatives[i] for i in group] for group in _components(len(representatives), pairs)]

    def spans_splits(group: list[int]) -> bool:
        return len({data.splits[i] for i in group}) > 1

    def mixed_labels(group: list[int]) -> bool:
        return len({data.labels[i] for i in group}) > 1

    def describe(group: list[int]) -> dict:
        return {
            "ids": [data.questions[i].id for i in group],
            "title": data.questions[group[0]].title,
            "splits": sorted({data.splits[i] for i in group}),
            "labels": sorted({data.labels[i] for i in group}),
        }

    near_examples = []
    for a, b, similarity in sorted(pairs, key=lambda pair: -pair[2])[: config.examples]:
        near_examples.append({**describe([representatives[a], representatives[b]]), "jaccard": similarity})
    return {
        "exact": {
            "groups": len(exact),
            "extra_copies": sum(len(group) - 1 for group in exact),
            "groups_across_splits": sum(spans_splits(group) for group in exact),
            "groups_with_different_labels": sum(mixed_labels(group) for group in exact),
            "examples": [describe(group) for group in exact[: config.examples]],
        },
        "near": {
            "method": f"MinHash (64 permutations, 16 bands) over word {config.shingle_words}-grams, exact Jaccard >= {config.near_threshold}",
            "pairs": len(pairs),
            "groups": len(near_groups),
            "extra_copies": sum(len(group) - 1 for group in near_groups),
            "groups_across_splits": sum(spans_splits(group) for group in near_groups),
            "groups_with_different_labels": sum(mixed_labels(group) for group in near_groups),
            "examples": near_examples,
        },
    }


# --- text checks and the whole report -----------------------------------------------------------------


def text_report(data: InspectedData, lengths: np.ndarray, config: InspectConfig) -> dict:
    very_long_tokens = config.very_long_factor * config.max_length
    body_chars = np.array([len(q.body) for q in data.questions], dtype=np.int64)
    longest = int(np.argmax(lengths)) if lengths.size else None
    return {
        "empty_title": sum(not q.title.strip() for q in data.questions),
        "empty_body": sum(not q.body.strip() for q in data.questions),
        "empty_title_and_body": sum(not q.title.strip() and not q.body.strip() for q in data.questions),
        "very_long_tokens_threshold": very_long_tokens,
        "very_long": int(np.count_nonzero(lengths > very_long_tokens)),
        "body_chars_p50": float(np.percentile(body_chars, 50)) if body_chars.size else 0.0,
        "body_chars_max": int(body_chars.max()) if body_chars.size else 0,
        "longest": None if longest is None else {"id": data.questions[longest].id, "tokens": int(lengths[longest])},
    }


def label_report(data: InspectedData) -> dict:
    report: dict[str, dict] = {}
    for split in [*data.split_names(), *([ALL] if ALL not in data.split_names() else [])]:
        labels = [label for label, name in zip(data.labels, data.splits) if split == ALL or name == split]
        counts: dict[str, int] = defaultdict(int)
        for label in labels:
            counts[label] += 1
        report[split] = {
            "count": len(labels),
            "labels": dict(sorted(counts.items())),
            "shares": {label: round(count / len(labels), 4) for label, count in sorted(counts.items())} if labels else {},
        }
    return report


def inspect_data(config: InspectConfig) -> tuple[dict, dict[str, np.ndarray]]:
    """Build the report; also return the token lengths per split (for the histogram)."""
    from ..modeling import load_tokenizer, resolve_base_model

    data = load_questions(config)
    model = resolve_base_model(config.model)
    tokenizer = load_tokenizer(model)
    if not getattr(tokenizer, "is_fast", False):
        log.warning("%s has no fast tokenizer; token lengths are computed with the slow Python one", model)
    lengths = token_lengths(data.questions, tokenizer, config.batch_size)

    splits = np.array(data.splits)
    lengths_by_split = {name: lengths[splits == name] for name in data.split_names()}
    token_report = {name: length_summary(values, config.max_length) for name, values in lengths_by_split.items()}
    if len(lengths_by_split) > 1:
        token_report[ALL] = length_summary(lengths, config.max_length)
        lengths_by_split[ALL] = lengths

    report = {
        "path": str(Path(config.path)),
        "kind": data.kind,
        "tokenizer": "bundled all-MiniLM-L6-v2" if config.model is None else config.model,
        "max_length": config.max_length,
        "splits": label_report(data),
        "token_lengths": token_report,
        "duplicates": duplicate_report(data, config),
        "texts": text_report(data, lengths, config),
    }
    return report, lengths_by_split


def write_report_json(report: dict, path: str | Path) -> None:
    write_json(path, report)


def plot_token_lengths(lengths_by_split: dict[str, np.ndarray], max_length: int, path: str | Path) -> None:
    """Write a PNG histogram of token lengths, one step line per split, with max_length marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # Figure + the Agg canvas directly: no pyplot global state, no display needed.
    figure = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    overall = lengths_by_split.get(ALL, next(iter(lengths_by_split.values())))
    upper = max(float(np.percentile(overall, 99.5)), max_length * 1.2) if overall.size else max_length * 2
    bins = np.linspace(0, upper, 61)
    for name, values in lengths_by_split.items():
        if values.size:
            axes.hist(np.minimum(values, upper), bins=bins, histtype="step", linewidth=1.5, label=f"{name} (n={values.size})")
    axes.axvline(max_length, color="black", linestyle="--", linewidth=1)
    share = float(np.mean(overall > max_length)) if overall.size else 0.0
    axes.text(max_length, axes.get_ylim()[1] * 0.95, f" max_length {max_length}: {share:.1%} over", va="top")
    axes.set_xlabel(f"tokens per question, untruncated (the last bin holds everything above {upper:.0f})")
    axes.set_ylabel("questions")
    axes.legend()
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")


def render_report(report: dict, console) -> None:
    """Print the report as rich tables."""
    from rich.table import Table

    console.print(f"[bold]{report['path']}[/bold] ({report['kind']}), tokenizer {report['tokenizer']}")

    labels = sorted({label for split in report["splits"].values() for label in split["labels"]})
    table = Table(title="Questions and labels per split")
    table.add_column("split")
    table.add_column("questions", justify="right")
    for label in labels:
        table.add_column(label, justify="right")
    for name, split in report["splits"].items():
        cells = [f"{split['labels'].get(label, 0)} ({split['shares'].get(label, 0.0):.1%})" for label in labels]
        table.add_row(name, str(split["count"]), *cells)
    console.print(table)

    table = Table(title=f"Token lengths, untruncated (max_length {report['max_length']})")
    table.add_column("split")
    for column in (*(f"p{p}" for p in PERCENTILES), "mean", "max", f"over {report['max_length']}"):
        table.add_column(column, justify="right")
    for name, lengths in report["token_lengths"].items():
        if not lengths.get("count"):
            continue
        cells = [f"{lengths[f'p{p}']:.0f}" for p in PERCENTILES]
        over = f"{lengths['over_max_length']} ({lengths['over_max_length_share']:.1%})"
        table.add_row(name, *cells, f"{lengths['mean']:.0f}", str(lengths["max"]), over)
    console.print(table)

    table = Table(title="Duplicates")
    for column in ("kind", "groups", "extra copies", "groups across splits", "groups with different labels"):
        table.add_column(column, justify="right" if column != "kind" else "left")
    for kind in ("exact", "near"):
        found = report["duplicates"][kind]
        table.add_row(kind, str(found["groups"]), str(found["extra_copies"]), str(found["groups_across_splits"]),
                      str(found["groups_with_different_labels"]))
    console.print(table)
    console.print(f"near duplicates: {report['duplicates']['near']['method']}")
    for example in report["duplicates"]["near"]["examples"]:
        console.print(f"  Jaccard {example['jaccard']:.2f}: ids {', '.join(example['ids'])} ({', '.join(example['splits'])}): {example['title'][:70]}")

    texts = report["texts"]
    table = Table(title="Texts")
    table.add_column("check")
    table.add_column("questions", justify="right")
    table.add_row("empty title", str(texts["empty_title"]))
    table.add_row("empty body", str(texts["empty_body"]))
    table.add_row("empty title and body", str(texts["empty_title_and_body"]))
    table.add_row(f"over {texts['very_long_tokens_threshold']} tokens", str(texts["very_long"]))
    console.print(table)
    if texts["longest"]:
        console.print(f"longest: question {texts['longest']['id']}, {texts['longest']['tokens']} tokens; "
                      f"body characters p50 {texts['body_chars_p50']:.0f}, max {texts['body_chars_max']}")
