"""`sotriage demo`: the whole pipeline on the bundled sample, with no network and no data files."""

from __future__ import annotations

import click

from .common import handle_errors


@click.command()
@click.option("--out", default="runs/demo", show_default=True, type=click.Path(file_okay=False), help="Run folder to write.")
@click.option("--epochs", type=float, default=3.0, show_default=True, help="Training epochs on the sample.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Threads for training and inference (default: physical cores).")
@click.option("--data", default=None, type=click.Path(dir_okay=False, exists=True),
              help="A Kaggle-schema CSV of real questions to evaluate the shipped classifier on (first 500 rows).")
@handle_errors
def demo(out, epochs, threads, data) -> None:
    """Prepare the bundled sample, train LoRA briefly, export to ONNX/INT8 and compare backends.

    Then evaluates and times the classifier shipped with the package (PyTorch FP32 vs ONNX
    Runtime INT8). Takes a few minutes on 2 CPU cores and leaves a complete run folder at --out.
    The sample is synthetic, so accuracy on it says nothing about real questions.

    \b
    Example:
      sotriage demo --out runs/demo
    """
    from ..demo import run_demo

    run_demo(out, epochs=epochs, threads=threads, data=data)
