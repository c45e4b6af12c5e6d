"""Measure how test accuracy differs between a random (stratified) and a time-based split.

The model is fixed and cheap on purpose, so the difference is about the split, not the model.
It is TF-IDF over word unigrams and bigrams of title, tags and body, then logistic regression,
with the same settings for both splits (no tuning). Each split is 80/10/10; the model trains on train and
is scored on test (validation is unused). The report also gives each split's date ranges, the test
label shares, and the majority-class accuracy (the most frequent train label), since a time split
can shift the label balance.

    python scripts/compare_splits.py path/to/train-sample.csv.gz --labels binary --labels reasons --json out.json
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from collections import Counter

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

from sotriage.data.schema import label_of
from sotriage.data.sources import open_source
from sotriage.data.split import stratified_split, time_split
from sotriage.data.text import question_text

FRACTIONS = (0.8, 0.1, 0.1)


def document(question) -> str:
    first, body = question_text(question.title, question.body, question.tags)
    return f"{first}\n{body}"


def date_ranges(questions, assignment) -> dict[str, list[str]]:
    ranges = {}
    for split in ("train", "validation", "test"):
        dates = sorted(q.created for q, name in zip(questions, assignment) if name == split and q.created)
        ranges[split] = [dates[0], dates[-1]] if dates else [None, None]
    return ranges


def evaluate_split(questions, labels, assignment, seed: int) -> dict:
    train = [i for i, name in enumerate(assignment) if name == "train"]
    test = [i for i, name in enumerate(assignment) if name == "test"]
    started = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=200_000, sublinear_tf=True, dtype=np.float32)
    train_matrix = vectorizer.fit_transform(document(questions[i]) for i in train)
    test_matrix = vectorizer.transform(document(questions[i]) for i in test)
    train_labels = [labels[i] for i in train]
    test_labels = [labels[i] for i in test]
    model = LogisticRegression(C=4.0, max_iter=2000, random_state=seed)
    model.fit(train_matrix, train_labels)
    predicted = model.predict(test_matrix)

    majority = Counter(train_labels).most_common(1)[0][0]
    test_counts = Counter(test_labels)
    return {
        "train": len(train),
        "test": len(test),
        "date_ranges": date_ranges(questions, assignment),
        "test_label_shares": {label: round(count / len(test), 4) for label, count in sorted(test_counts.items())},
        "majority_label": majority,
        "majority_accuracy": round(test_counts[majority] / len(test), 4),
        "accuracy": round(float(accuracy_score(test_labels, predicted)), 4),
        "macro_f1": round(float(f1_score(test_labels, predicted, average="macro")), 4),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="any source `sotriage data prepare` reads without column options (Kaggle CSV, Posts.xml)")
    parser.add_argument("--labels", action="append", choices=["binary", "reasons"], help="label set(s) to measure (default: binary)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the stratified split and the classifier")
    parser.add_argument("--json", dest="json_path", help="also write the results to this JSON file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    label_sets = args.labels or ["binary"]
    reader_labels = "reasons" if "reasons" in label_sets else "binary"
    questions = list(open_source(args.source, labels=reader_labels))
    logging.info("read %d questions from %s", len(questions), args.source)

    results = {"source": args.source, "questions": len(questions), "machine": f"{platform.machine()} {platform.processor()}".strip(), "runs": []}
    splits = {
        "random": lambda labels: stratified_split(labels, FRACTIONS, args.seed),
        "time": lambda labels: time_split([q.created for q in questions], FRACTIONS),
    }
    for label_set in label_sets:
        labels = [label_of(q.status, label_set) for q in questions]
        for split_name, make_split in splits.items():
            result = evaluate_split(questions, labels, make_split(labels), args.seed)
            result.update(labels=label_set, split=split_name)
            results["runs"].append(result)
            logging.info("%s / %s: accuracy %.4f (majority %.4f), %.0f s", label_set, split_name, result["accuracy"],
                         result["majority_accuracy"], result["seconds"])

    print("| labels | split | train | test | train dates | test dates | test accuracy | macro F1 | majority-class accuracy |")
    print("| --- | --- | ---: | ---: | --- | --- | ---: | ---: | ---: |")
    for run in results["runs"]:
        train_dates = " to ".join(d[:10] for d in run["date_ranges"]["train"])
        test_dates = " to ".join(d[:10] for d in run["date_ranges"]["test"])
        print(f"| {run['labels']} | {run['split']} | {run['train']} | {run['test']} | {train_dates} | {test_dates} | "
              f"{run['accuracy']:.4f} | {run['macro_f1']:.4f} | {run['majority_accuracy']:.4f} |")
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
