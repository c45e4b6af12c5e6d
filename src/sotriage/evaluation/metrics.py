"""Classification metrics from labels and predicted probabilities."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss, roc_auc_score


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray, label_names: list[str]) -> dict:
    """Return accuracy, macro-F1, log loss, ROC-AUC and the confusion matrix (rows: true labels).

    ROC-AUC is that of P(second label) for two classes, and the one-vs-rest macro average for more;
    it is None when the labels hold a single class.
    """
    labels = np.asarray(labels)
    predicted = probabilities.argmax(axis=1)
    classes = list(range(len(label_names)))
    clipped = np.clip(probabilities, 1e-7, 1.0)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)

    roc_auc = None
    if len(np.unique(labels)) > 1:
        if len(label_names) == 2:
            roc_auc = float(roc_auc_score(labels, probabilities[:, 1]))
        elif len(np.unique(labels)) == len(label_names):
            roc_auc = float(roc_auc_score(labels, clipped, multi_class="ovr", average="macro", labels=classes))

    return {
        "n": int(len(labels)),
        "accuracy": float(accuracy_score(labels, predicted)),
        "macro_f1": float(f1_score(labels, predicted, average="macro", labels=classes, zero_division=0)),
        "log_loss": float(log_loss(labels, clipped, labels=classes)),
        "roc_auc": roc_auc,
        "label_names": list(label_names),
        "confusion_matrix": confusion_matrix(labels, predicted, labels=classes).tolist(),
    }


def agreement(reference_logits: np.ndarray, logits: np.ndarray) -> dict:
    """Compare a backend's logits with the reference's: max |difference| and argmax agreement."""
    return {
        "max_abs_logit_diff": float(np.abs(reference_logits - logits).max()) if len(logits) else 0.0,
        "argmax_agreement": float((reference_logits.argmax(1) == logits.argmax(1)).mean()) if len(logits) else 1.0,
    }
