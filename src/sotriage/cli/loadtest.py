"""`sotriage loadtest`: throughput, latency percentiles, errors and memory of a running Triton server."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..io import write_json
from ..serving.protocol import DEFAULT_MODEL_NAME
from .common import handle_errors


def _load_questions(data: str | None, split: str, limit: int | None):
    if data is None:
        from ..demo_data import sample_questions

        questions = sample_questions().questions
    else:
        from ..data.dataset import load_dataset

        questions = load_dataset(data).split(split).questions
    return questions[:limit] if limit else questions


def _print_report(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Load test: {report['config']['url']} ({report['config']['protocol']}), "
                        f"{report['config']['concurrency']} clients")
    table.add_column("metric")
    table.add_column("value", justify="right")
    latency = report["latency_ms"]
    rows = [
        ("requests (questions)", f"{report['requests']} ({report['questions']})"),
        ("errors", str(report["errors"])),
        ("elapsed", f"{report['elapsed_s']:.1f} s"),
        ("throughput", f"{report['requests_per_s']:.1f} requests/s, {report['questions_per_s']:.1f} questions/s"),
        ("latency p50 / p95 / p99", f"{latency['p50']:.0f} / {latency['p95']:.0f} / {latency['p99']:.0f} ms"),
        ("latency max", f"{latency['max']:.0f} ms"),
    ]
    memory = report["memory"]
    if memory["before_bytes"] is not None:
        growth = f"{memory['growth_pct']:+.1f}%" if memory["growth_pct"] is not None else "n/a"
        rows.append(("server memory cold", f"{memory['cold_bytes'] / 2**20:.0f} MiB"))
        rows.append(("server memory after warm-up -> end", f"{memory['before_bytes'] / 2**20:.0f} -> "
                                                           f"{memory['after_bytes'] / 2**20:.0f} MiB ({growth})"))
    rows.append(("memory measured as", memory["source"]))
    if "server_mean_batch_size" in report:
        rows.append(("server mean batch size", f"{report['server_mean_batch_size']:.1f}"))
    if "in_process" in report:
        baseline = report["in_process"]
        rows.append((f"in-process {baseline['backend']}, batch {baseline['batch_size']}", f"{baseline['questions_per_s']:.1f} questions/s"))
        rows.append(("served / in-process throughput", f"{report['served_vs_in_process']:.0%}"))
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)
    for sample in report["error_samples"]:
        click.echo(f"error: {sample}", err=True)


@click.command()
@click.option("--url", default="127.0.0.1:8000", show_default=True,
              help="Server host:port (HTTP 8000 or gRPC 8001 by default). Loopback unless you name another host.")
@click.option("--protocol", type=click.Choice(["http", "grpc"]), default="http", show_default=True, help="KServe v2 protocol.")
@click.option("--model-name", default=DEFAULT_MODEL_NAME, show_default=True, help="Model name on the server.")
@click.option("--concurrency", type=int, default=8, show_default=True, help="Client threads, each with one request in flight.")
@click.option("--duration", "duration_s", type=float, default=30.0, show_default=True, help="Seconds to send requests for.")
@click.option("--warmup", "warmup_s", type=float, default=10.0, show_default=True,
              help="Seconds of untimed load before the measurement; memory 'before' is read after it.")
@click.option("--max-requests", type=int, default=None,
              help="Stop after this many requests, warm-up included, even if --duration has not passed.")
@click.option("--batch", "questions_per_request", type=int, default=1, show_default=True, help="Questions per request.")
@click.option("--data", type=click.Path(file_okay=False, exists=True), default=None,
              help="Prepared dataset folder (sotriage data prepare) to take questions from. Default: the bundled sample.")
@click.option("--split", default="test", show_default=True, help="Split of --data to use.")
@click.option("--limit", type=int, default=None, help="Use only the first N questions.")
@click.option("--server-pid", type=int, default=None, help="Server process id; its RSS (children included) is measured before and after.")
@click.option("--metrics-url", default=None,
              help="Triton metrics URL, e.g. http://127.0.0.1:8002/metrics: request counters and the mean batch size.")
@click.option("--compare-model", default=None, type=click.Path(file_okay=False),
              help="Also measure this model in-process at the server's mean batch size (needs --metrics-url), on the same questions.")
@click.option("--compare-backend", default="onnx-int8", show_default=True, help="Backend for --compare-model.")
@click.option("--compare-threads", type=int, default=None, help="Inference threads for --compare-model (use the server's).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="Write the full report as JSON here.")
@handle_errors
def loadtest(url, protocol, model_name, concurrency, duration_s, warmup_s, max_requests, questions_per_request, data, split, limit,
             server_pid, metrics_url, compare_model, compare_backend, compare_threads, json_path) -> None:
    """Send real questions to a running Triton server and report throughput, latency and memory.

    Each of --concurrency threads keeps one request in flight until --duration seconds pass or
    --max-requests requests were sent, after --warmup seconds of untimed load.

    \b
    Example (server from `sotriage serve runs/minilm-lora` in another shell):
      sotriage loadtest --url 127.0.0.1:8000 --concurrency 64 --duration 120 \\
          --server-pid $(pgrep -f 'sotriage serve') --metrics-url http://127.0.0.1:8002/metrics \\
          --compare-model runs/minilm-lora --json loadtest.json
    """
    from rich.progress import Progress

    from ..serving.loadtest import LoadTestConfig, in_process_throughput, run_load_test

    config = LoadTestConfig(url=url, protocol=protocol, model_name=model_name, concurrency=concurrency, duration_s=duration_s, warmup_s=warmup_s,
                            max_requests=max_requests, questions_per_request=questions_per_request, server_pid=server_pid,
                            metrics_url=metrics_url)
    if compare_model and not metrics_url:
        raise click.UsageError("--compare-model needs --metrics-url, which gives the server's mean batch size")
    questions = _load_questions(data, split, limit)
    with Progress(transient=True) as progress:
        task = progress.add_task(f"{concurrency} clients", total=duration_s)
        report = run_load_test(config, questions, progress=lambda seconds: progress.update(task, completed=seconds))
    if compare_model and report.get("server_mean_batch_size"):
        from ..runtime.classifier import Classifier

        batch_size = max(1, round(report["server_mean_batch_size"]))
        classifier = Classifier.load(compare_model, backend=compare_backend, threads=compare_threads, batch_size=max(batch_size, 32))
        baseline = in_process_throughput(classifier, questions, batch_size)
        report["in_process"] = {"model": compare_model, "backend": compare_backend, **baseline}
        report["served_vs_in_process"] = report["questions_per_s"] / baseline["questions_per_s"]
    _print_report(report)
    if json_path:
        write_json(Path(json_path), report)
        click.echo(f"wrote {json_path}")
    if report["errors"]:
        raise click.ClickException(f"{report['errors']} of {report['requests']} requests failed (first: {report['error_samples'][0]})")
    click.echo(json.dumps({key: report[key] for key in ("requests", "errors", "questions_per_s")}))
