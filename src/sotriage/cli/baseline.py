"""`sotriage baseline`: the TF-IDF + logistic regression baseline on a prepared dataset."""

from __future__ import annotations

import json

import click

from ..io import write_json
from .common import handle_errors


@click.command()
@click.argument("data_dir", type=click.Path(file_okay=False))
@click.option("--features", type=click.Choice(["text", "text+meta"]), default="text+meta", show_default=True,
              help="text: TF-IDF only; text+meta: plus reputation, answer count, tag count and account age.")
@click.option("--max-features", type=int, default=200_000, show_default=True, help="TF-IDF vocabulary size (word 1-2 grams).")
@click.option("--max-examples", type=click.IntRange(min=1), default=None, help="Train on only the first N training questions.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="Also write the result to this JSON file.")
@handle_errors
def baseline(data_dir, features, max_features, max_examples, json_path) -> None:
    """Train TF-IDF + logistic regression on DATA_DIR, choose C on validation, report the test split.

    \b
    Example:
      sotriage baseline data/so --features text+meta --json runs/baseline.json
    """
    from ..baseline import BaselineConfig, run_baseline

    result = run_baseline(BaselineConfig(data_dir=data_dir, features=features, max_features=max_features, max_examples=max_examples))
    if json_path:
        write_json(json_path, result)
    summary = {k: result[k] for k in ("variant", "n", "accuracy", "macro_f1", "log_loss", "roc_auc", "chosen_c", "train_seconds")}
    click.echo(json.dumps(summary, indent=2))
