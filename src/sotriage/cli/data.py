"""`sotriage data`: prepare datasets from question sources."""

from __future__ import annotations

import click

from ..data.prepare import PrepareConfig, prepare_dataset
from .common import handle_errors, parse_fractions


@click.group()
def data() -> None:
    """Read question sources and write prepared datasets."""


@data.command()
@click.argument("source", type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to write (replaced atomically if it exists).")
@click.option("--labels", type=click.Choice(["binary", "reasons"]), default="binary", show_default=True,
              help="binary: open vs closed; reasons: the five OpenStatus values.")
@click.option("--seed", type=int, default=42, show_default=True, help="Seed of the stratified shuffle.")
@click.option("--split", "split_kind", type=click.Choice(["random", "time"]), default="random", show_default=True,
              help="random: stratified by label; time: oldest questions train, newest test.")
@click.option("--fractions", default="0.8,0.1,0.1", show_default=True, help="Train,validation,test fractions.")
@click.option("--code", type=click.Choice(["keep", "placeholder", "drop"]), default="keep", show_default=True,
              help="How code blocks enter the text.")
@click.option("--max-rows", type=int, default=None, help="Read only the first N rows (for quick runs).")
@handle_errors
def prepare(source, out, labels, seed, split_kind, fractions, code, max_rows) -> None:
    """Prepare SOURCE (a Kaggle-schema .csv or .csv.gz) into train/validation/test splits.

    \b
    Example:
      sotriage data prepare train-sample.csv.gz --out data/so --labels binary --seed 42
    """
    config = PrepareConfig(source=source, out=out, labels=labels, seed=seed, split=split_kind,
                           fractions=parse_fractions(fractions), code=code, max_rows=max_rows)
    dataset = prepare_dataset(config)
    counts = dataset.info["counts"]
    for name, per_label in counts.items():
        click.echo(f"{name:<10} {sum(per_label.values()):>7}  " + ", ".join(f"{k}: {v}" for k, v in sorted(per_label.items())))
    click.echo(f"wrote {out}")
