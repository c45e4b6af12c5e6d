"""`sotriage fuse`: fit a fusion head (TF-IDF + asker metadata) on top of a trained model."""

from __future__ import annotations

import json

import click

from .common import handle_errors


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--backend", default="onnx-int8", show_default=True,
              help="Backend whose logits the head is fitted on; use the one you deploy.")
@click.option("--tfidf/--no-tfidf", default=True, show_default=True, help="Include a TF-IDF + logistic regression text model.")
@click.option("--max-features", type=int, default=50_000, show_default=True, help="TF-IDF vocabulary size (word 1-2 grams).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Inference threads (default: all cores).")
@handle_errors
def fuse(run_dir, backend, tfidf, max_features, threads) -> None:
    """Fit a fusion head on the validation split of RUN_DIR's data and report the test split.

    The head is saved in RUN_DIR/model/fusion/ and used by evaluate, predict, serve and bench
    whenever that model is loaded.

    \b
    Example:
      sotriage fuse runs/minilm-lora --backend onnx-int8
    """
    from ..fusion_fit import fit_run_fusion

    report = fit_run_fusion(run_dir, backend=backend, use_tfidf=tfidf, max_features=max_features, threads=threads)
    click.echo(json.dumps(report["test"], indent=2))
