"""Entry point: `sotriage [-v] COMMAND ...`."""

from __future__ import annotations

import click

from .. import __version__
from .common import setup_logging


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", count=True, help="Log progress (-v) or debug details (-vv) to stderr.")
@click.version_option(__version__, prog_name="sotriage")
def cli(verbose: int) -> None:
    """Predict whether, and why, a Stack Overflow question gets closed.

    \b
    Quick start (bundled model and sample, no network):
      sotriage demo
    Full pipeline on the Kaggle data:
      sotriage data prepare train-sample.csv --out data/so
      sotriage train data/so --out runs/minilm-lora
      sotriage export runs/minilm-lora
      sotriage evaluate runs/minilm-lora --backend onnx-int8
    """
    setup_logging(verbose)


def _register() -> None:
    from . import data, demo, evaluate, export, predict, train

    cli.add_command(data.data)
    cli.add_command(train.train)
    cli.add_command(export.export)
    cli.add_command(evaluate.evaluate)
    cli.add_command(predict.predict)
    cli.add_command(demo.demo)
    for optional in ("bench", "serve", "baseline", "loadtest", "fuse"):
        try:
            module = __import__(f"sotriage.cli.{optional}", fromlist=[optional])
        except ModuleNotFoundError as error:
            if error.name != f"sotriage.cli.{optional}":
                raise
            continue
        cli.add_command(getattr(module, optional))


_register()
