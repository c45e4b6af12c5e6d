"""`sotriage data`: prepare datasets from question sources and inspect them."""

from __future__ import annotations

import click

from ..data.generic import BODY_FORMATS, GenericColumns, parse_label_map
from ..data.prepare import PrepareConfig, prepare_dataset
from .common import handle_errors, parse_fractions

_COLUMN_OPTIONS = ("title", "body", "label", "tags", "id", "created", "reputation", "answers", "account_age")


def source_options(function):
    """Add the options that control how a source is read: column names, label map, dump options."""
    options = [
        click.option("--title-column", help="Generic files: column with the question title."),
        click.option("--body-column", help="Generic files: column with the question body."),
        click.option("--label-column", help="Generic files: column with the label (an OpenStatus value, open/closed, or a value mapped by --label-map)."),
        click.option("--tags-column", help="Generic files: column with the tags (a list, or separated by spaces, commas, <a><b> or |a|b|)."),
        click.option("--id-column", help="Generic files: column with the question id (default: the row number)."),
        click.option("--created-column", help="Generic files: column with the creation date (ISO 8601, MM/DD/YYYY HH:MM:SS or seconds since 1970); needed by --split time."),
        click.option("--reputation-column", help="Generic files: column with the asker's reputation at post time."),
        click.option("--answers-column", help="Generic files: column with the asker's answer count at post time."),
        click.option("--account-age-column", help="Generic files: column with the asker's account age at post time, in days."),
        click.option("--body-format", type=click.Choice(BODY_FORMATS), default="markdown", show_default=True,
                     help="Generic files: how the body column is written."),
        click.option("--label-map", default=None, help="Generic files: map label values to open/closed or an OpenStatus value, e.g. 'spam=closed,ok=open'."),
        click.option("--keep-duplicates", is_flag=True, help="Stack Exchange dumps: keep questions closed as duplicates, as 'closed' (binary labels only). Default: leave them out."),
        click.option("--dump-reputation", is_flag=True,
                     help="Stack Exchange dumps: fill reputation from Users.xml. This is the reputation at dump time, not at post time, so it leaks later activity."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def columns_from_options(options: dict) -> GenericColumns | None:
    """Build GenericColumns from the --*-column options, or None when none of them is given."""
    names = {name: options.pop(f"{name}_column") for name in _COLUMN_OPTIONS}
    body_format = options.pop("body_format")
    label_map = options.pop("label_map")
    if not any(names.values()):
        if label_map or body_format != "markdown":
            option = "--label-map" if label_map else "--body-format"
            raise click.UsageError(f"{option} applies to generic files: give it with --title-column, --body-column and --label-column.")
        return None
    return GenericColumns(**names, body_format=body_format, label_map=parse_label_map(label_map))


@click.group()
def data() -> None:
    """Read question sources and write prepared datasets."""


@data.command()
@click.argument("source", type=click.Path(exists=True))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to write (replaced atomically if it exists).")
@click.option("--labels", type=click.Choice(["binary", "reasons"]), default="binary", show_default=True,
              help="binary: open vs closed; reasons: the five OpenStatus values.")
@click.option("--seed", type=int, default=42, show_default=True, help="Seed of the stratified shuffle.")
@click.option("--split", "split_kind", type=click.Choice(["random", "time"]), default="random", show_default=True,
              help="random: stratified by label; time: oldest questions train, newest test.")
@click.option("--fractions", default="0.8,0.1,0.1", show_default=True, help="Train,validation,test fractions.")
@click.option("--code", type=click.Choice(["keep", "placeholder", "drop"]), default="keep", show_default=True,
              help="How code blocks enter the text.")
@click.option("--max-rows", type=int, default=None, help="Read only the first N questions (for quick runs).")
@source_options
@handle_errors
def prepare(source, out, labels, seed, split_kind, fractions, code, max_rows, **source_settings) -> None:
    """Prepare SOURCE into train/validation/test splits.

    SOURCE is a Kaggle-schema .csv or .csv.gz, a Stack Exchange dump's Posts.xml (or the dump
    folder; PostHistory.xml beside it gives the close reasons for --labels reasons), or any
    .csv, .csv.gz, .jsonl, .jsonl.gz or .parquet file with --title-column, --body-column and
    --label-column.

    \b
    Examples:
      sotriage data prepare train-sample.csv.gz --out data/so --labels binary --seed 42
      sotriage data prepare dumps/coffee.stackexchange.com --out data/coffee --split time
      sotriage data prepare tickets.jsonl --out data/tickets --title-column subject \\
          --body-column text --label-column verdict --label-map 'spam=closed,ok=open'
    """
    columns = columns_from_options(source_settings)
    config = PrepareConfig(source=source, out=out, labels=labels, seed=seed, split=split_kind,
                           fractions=parse_fractions(fractions), code=code, max_rows=max_rows,
                           columns=columns, **source_settings)
    dataset = prepare_dataset(config)
    counts = dataset.info["counts"]
    for name, per_label in counts.items():
        click.echo(f"{name:<10} {sum(per_label.values()):>7}  " + ", ".join(f"{k}: {v}" for k, v in sorted(per_label.items())))
    imported = dataset.info.get("import")
    if imported:
        click.echo(_import_summary(imported))
    click.echo(f"wrote {out}")


def _import_summary(stats: dict) -> str:
    parts = [f"{stats['questions']} questions in the dump", f"{stats['closed']} closed", f"{stats['imported']} imported"]
    if stats["duplicates_dropped"]:
        parts.append(f"{stats['duplicates_dropped']} duplicates left out (--keep-duplicates keeps them)")
    if stats["unmapped_dropped"]:
        parts.append(f"{stats['unmapped_dropped']} closed for an unmapped reason left out")
    if stats["unmapped_reason_ids"]:
        parts.append(f"unmapped close reason ids {stats['unmapped_reason_ids']}")
    return "import: " + ", ".join(parts)


@data.command()
@click.argument("path", type=click.Path(exists=True))
@click.option("--model", default=None, help="Tokenizer for the token lengths: a local model folder or hub name. Default: the bundled MiniLM.")
@click.option("--max-length", type=int, default=256, show_default=True, help="Model input length in tokens; the report counts questions longer than this.")
@click.option("--batch-size", type=int, default=512, show_default=True, help="Questions per tokenizer call.")
@click.option("--near-threshold", type=float, default=0.8, show_default=True,
              help="Jaccard similarity of word 5-gram sets at which two questions count as near duplicates.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="Also write the report to this JSON file.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None, help="Write a PNG histogram of token lengths to this file.")
@click.option("--code", type=click.Choice(["keep", "placeholder", "drop"]), default="keep", show_default=True,
              help="Source files: how code blocks enter the text.")
@click.option("--max-rows", type=int, default=None, help="Source files: read only the first N questions.")
@source_options
@handle_errors
def inspect(path, model, max_length, batch_size, near_threshold, json_path, plot_path, code, max_rows, **source_settings) -> None:
    """Report what PATH contains: a prepared dataset folder or any source `data prepare` reads.

    Counts per split, label balance, token lengths (p50 to p99 and the share over --max-length),
    exact and near duplicates, and empty or very long texts.

    \b
    Examples:
      sotriage data inspect data/so-binary --json reports/so-binary.json --plot reports/lengths.png
      sotriage data inspect dumps/coffee.stackexchange.com/Posts.xml --max-length 512
    """
    from rich.console import Console

    from ..data.inspect import InspectConfig, inspect_data, plot_token_lengths, render_report, write_report_json

    columns = columns_from_options(source_settings)
    config = InspectConfig(path=path, model=model, max_length=max_length, batch_size=batch_size, near_threshold=near_threshold,
                           code=code, max_rows=max_rows, columns=columns, **source_settings)
    report, lengths_by_split = inspect_data(config)
    render_report(report, Console())
    if json_path:
        write_report_json(report, json_path)
        click.echo(f"wrote {json_path}")
    if plot_path:
        plot_token_lengths(lengths_by_split, max_length, plot_path)
        click.echo(f"wrote {plot_path}")
