"""Evaluation stage: accuracy, macro-F1, log loss, ROC-AUC and the confusion matrix per backend."""
