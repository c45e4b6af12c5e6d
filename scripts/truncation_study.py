"""Accuracy and cost of truncation strategies and max lengths, at inference, on one trained model.

The model keeps its weights, and only the cut of a question into tokens changes. `head` keeps the
start of the body, and `head_tail` keeps its start and its last --tail-tokens tokens. The title and
tags always come first. Each setting is evaluated on the test split with the given backend, encoder
logits only (no fusion head), and timed end to end, tokenization included.

    python scripts/truncation_study.py runs/minilm-lora-r8 --backend onnx-int8 --out runs/truncation.md
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from sotriage.encoding import EncodingConfig, QuestionEncoder
from sotriage.evaluation.evaluate import evaluation_questions
from sotriage.evaluation.metrics import classification_metrics
from sotriage.modeling import load_tokenizer, read_sotriage_config
from sotriage.runtime.base import create_backend
from sotriage.runtime.classifier import Classifier, softmax
from sotriage.runtime.model_ref import resolve_model

log = logging.getLogger("truncation_study")

SETTINGS = [(128, "head"), (128, "head_tail"), (256, "head"), (256, "head_tail"), (384, "head_tail"), (512, "head"), (512, "head_tail")]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="Run folder or merged model folder.")
    parser.add_argument("--backend", default="onnx-int8", help="Backend to evaluate and time (default: onnx-int8).")
    parser.add_argument("--max-examples", type=int, default=None, help="Use only the first N test questions.")
    parser.add_argument("--threads", type=int, default=None, help="Inference threads (default: all cores).")
    parser.add_argument("--out", type=Path, default=None, help="Also write the Markdown table here (and JSON beside it).")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = parse_args(argv)
    resolved = resolve_model(args.model)
    questions, source = evaluation_questions(resolved, None, "test", args.max_examples)
    trained = EncodingConfig(**read_sotriage_config(resolved.files.model_dir).get("encoding", {}))
    tokenizer = load_tokenizer(str(resolved.files.model_dir))
    backend = create_backend(args.backend, resolved.files, args.threads)
    labels = np.asarray(questions.labels)

    rows = []
    for max_length, truncation in SETTINGS:
        encoding = EncodingConfig(max_length=max_length, truncation=truncation, title_max_tokens=trained.title_max_tokens,
                                  tail_tokens=trained.tail_tokens, include_tags=trained.include_tags)
        classifier = Classifier(QuestionEncoder(tokenizer, encoding), backend, resolved.label_names, max_batch_tokens=8192)
        started = time.perf_counter()
        logits = classifier.logits(questions.questions)  # tokenization, batching and the model
        seconds = time.perf_counter() - started
        metrics = classification_metrics(labels, softmax(logits), resolved.label_names)
        lengths = [len(item) for item in classifier.encoder.encode(questions.questions[:2000])]
        rows.append({"max_length": max_length, "truncation": truncation, "accuracy": metrics["accuracy"],
                     "macro_f1": metrics["macro_f1"], "log_loss": metrics["log_loss"], "q_per_s": len(questions) / seconds,
                     "mean_tokens": float(np.mean(lengths)), "share_at_max_length": float(np.mean(np.asarray(lengths) >= max_length))})
        log.info("%s", rows[-1])
    backend.close()

    lines = [f"Model {args.model} (trained at max_length {trained.max_length}, {trained.truncation}); backend {args.backend}; "
             f"{len(questions)} questions of {source}; encoder logits only.", "",
             "| max length | truncation | mean tokens | share at max length | accuracy | macro-F1 | log loss | questions/s |",
             "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        lines.append(f"| {row['max_length']} | {row['truncation']} | {row['mean_tokens']:.0f} | {row['share_at_max_length']:.0%} | "
                     f"{row['accuracy']:.2%} | {row['macro_f1']:.4f} | {row['log_loss']:.4f} | {row['q_per_s']:.1f} |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)
        args.out.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
