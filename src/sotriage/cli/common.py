"""Shared pieces of the commands: logging setup and turning known errors into clean exits."""

from __future__ import annotations

import functools
import logging

import click

from ..errors import SotriageError


def setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    # Library chatter (transformers' load reports and progress bars, deprecation notices) stays
    # quiet unless -vv: a new classification head is expected when training starts.
    for noisy in ("transformers", "peft", "onnxruntime", "urllib3", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.ERROR if verbosity < 2 else logging.DEBUG)
    if verbosity < 2:
        import warnings

        warnings.filterwarnings("ignore", category=FutureWarning)
        try:
            from transformers.utils import logging as transformers_logging

            transformers_logging.set_verbosity_error()
            transformers_logging.disable_progress_bar()
        except ImportError:
            pass


def handle_errors(function):
    """Print a SotriageError as one message and exit 1, without a traceback."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except SotriageError as error:
            raise click.ClickException(str(error)) from None

    return wrapper


def parse_fractions(value: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(x) for x in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not three comma-separated numbers, e.g. 0.8,0.1,0.1") from None
    if len(parts) != 3:
        raise click.BadParameter(f"{value!r} has {len(parts)} numbers; give three: train,validation,test")
    return parts  # type: ignore[return-value]
