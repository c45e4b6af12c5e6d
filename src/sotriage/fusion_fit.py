"""Fit and evaluate a fusion head for a run (the `sotriage fuse` command)."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from .baseline import BaselineConfig, TfidfBaseline
from .card import write_model_card
from .data.dataset import load_dataset
from .errors import MissingArtifactError
from .evaluation.metrics import classification_metrics
from .fusion import FusionHead, TfidfText, fit_fusion
from .io import read_json, write_json
from .run_dir import RunDir
from .runtime.classifier import Classifier, softmax
from .runtime.model_ref import resolve_model

log = logging.getLogger(__name__)


def fit_run_fusion(run_dir: str, backend: str = "onnx-int8", use_tfidf: bool = True, max_features: int = 50_000,
                   threads: int | None = None) -> dict:
    run = RunDir(run_dir)
    run.require("model")
    if not run.split.is_file():
        raise MissingArtifactError(f"{run.split} not found; the fusion head needs the run's dataset. Run sotriage train first.")
    dataset = load_dataset(read_json(run.split)["data_dir"])
    train, validation, test = dataset.split("train"), dataset.split("validation"), dataset.split("test")

    text_model = None
    if use_tfidf:
        log.info("fitting TF-IDF + logistic regression on %d training questions", len(train))
        baseline = TfidfBaseline(BaselineConfig(data_dir=str(dataset.path), features="text", max_features=max_features))
        baseline.fit(train, validation)
        text_model = TfidfText.from_baseline(baseline)

    resolved = resolve_model(run.root)
    classifier = Classifier.from_resolved(resolved, backend=backend, threads=threads, fusion=False)
    log.info("computing %s logits for %d validation and %d test questions", backend, len(validation), len(test))
    validation_logits = classifier.logits(validation.questions)
    test_logits = classifier.logits(test.questions)

    info = {"backend": backend, "tfidf": use_tfidf, "max_features": max_features, "fitted_on": "validation",
            "validation_questions": len(validation)}
    head = fit_fusion(text_model, validation.questions, validation_logits, validation.labels, info)
    labels = np.asarray(test.labels)
    names = dataset.label_names
    without_meta = [dataclasses.replace(q, reputation=None, answer_count=None, account_age_days=None) for q in test.questions]
    report = {
        "info": info,
        "test": {
            "encoder_only": _summary(classification_metrics(labels, softmax(test_logits), names)),
            "fused": _summary(classification_metrics(labels, head.probabilities(test.questions, test_logits), names)),
            "fused_without_metadata": _summary(classification_metrics(labels, head.probabilities(without_meta, test_logits), names)),
        },
    }
    head.save(resolved.files.model_dir)
    reloaded = FusionHead.load(resolved.files.model_dir)
    np.testing.assert_allclose(reloaded.probabilities(test.questions[:32], test_logits[:32]),
                               head.probabilities(test.questions[:32], test_logits[:32]), atol=1e-6)
    write_json(run.metrics / "fusion.json", report)
    write_model_card(run.root)
    return report


def _summary(metrics: dict) -> dict:
    return {k: metrics[k] for k in ("n", "accuracy", "macro_f1", "log_loss", "roc_auc")}
