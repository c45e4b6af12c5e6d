"""`sotriage bench`: CPU throughput and latency of every backend on real question lengths."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..bench.config import (DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_BATCH_TOKENS, DEFAULT_N, MODEL_KEYS, QUICK_N,
                            SETTING_NAMES, BenchConfig, parse_list, parse_shape)
from .common import handle_errors


@click.command()
@click.option("--model", default=None, type=click.Path(file_okay=False),
              help="Run folder, merged model folder or shipped:reasons, measured as the classifier. Default: the shipped binary model.")
@click.option("--models", default=None, help=f"Comma-separated models to measure: {', '.join(MODEL_KEYS)}. Default: both.")
@click.option("--backends", default=None,
              help="Comma-separated backends: torch, onnx, onnx-int8, onnx-int8-static, openvino, openvino-int8, or any other "
                   "registered one. Default: every registered backend whose files exist.")
@click.option("--settings", default=None,
              help=f"Comma-separated settings: {', '.join(SETTING_NAMES)}. Default: all.")
@click.option("--n", "n", type=int, default=None,
              help=f"Questions per setting. Default: {DEFAULT_N} ({QUICK_N} with --quick).")
@click.option("--passes", type=int, default=3, show_default=True, help="Timed passes per measurement; the median is reported.")
@click.option("--threads", type=int, default=None,
              help="Threads for torch and ONNX Runtime intra-op work (inter-op is 1). Default: the physical cores.")
@click.option("--max-batch-tokens", type=int, default=DEFAULT_MAX_BATCH_TOKENS, show_default=True,
              help="Token budget (rows x padded length) of a production batch.")
@click.option("--max-batch-size", type=int, default=DEFAULT_MAX_BATCH_SIZE, show_default=True,
              help="Max rows of a production batch.")
@click.option("--data", default=None,
              help="Prepared dataset folder (its test split is sampled) or Kaggle-schema CSV. Default: the real "
                   "questions beside the checkout (shared/data), else the bundled synthetic sample.")
@click.option("--quick", is_flag=True,
              help="Reduced run: 64 questions; PyTorch in the reference procedure, the standard recipe, and every "
                   "other backend in production batching, for both models.")
@click.option("--levers", is_flag=True,
              help="Also measure the speed levers (token budgets, batch sizes, ORT spinning, threads, tokenizer "
                   "batching, fusion, padding multiples, a shorter max length).")
@click.option("--out", default="runs/bench", show_default=True, type=click.Path(file_okay=False),
              help="Folder for bench.json, bench.md, throughput.png and latency.png.")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False),
              help="Also write the JSON results to this file.")
@click.option("--gemm-shape", default="4096,768,3072", show_default=True,
              help="M,K,N of the FP32 and INT8 GEMMs that measure the machine's ceilings.")
@click.option("--bert-base-model", default=None, hidden=True, type=click.Path(file_okay=False),
              help="Model folder measured as bert-base instead of a random BERT-base (for tests).")
@handle_errors
def bench(model, models, backends, settings, n, passes, threads, max_batch_tokens, max_batch_size, data, quick,
          levers, out, json_path, gemm_shape, bert_base_model) -> None:
    """Benchmark CPU inference: the shipped classifier and BERT-base, every backend, five settings.

    Settings: reference (batch 32 padded to 512), sorted32 (length-sorted batches of 32), production
    (token-budget batches), latency (batch 1, p50/p95/p99), end2end (tokenization included). Each
    measurement is a short warm-up, then the median of --passes passes. The run also measures FP32
    and INT8 GEMM ceilings and reports each result as a share of them.

    \b
    Examples:
      sotriage bench --quick
      sotriage bench --model runs/minilm-lora --json bench.json
      sotriage bench --models bert-base --backends torch,onnx-int8 --settings reference,sorted32
    """
    from rich.console import Console

    from ..bench.report import passes_text, render_table, to_json, write_outputs
    from ..bench.runner import run_benchmark

    config = BenchConfig(
        models=parse_list(models, MODEL_KEYS, "--models"),
        backends=parse_list(backends, None, "--backends"),
        settings=parse_list(settings, SETTING_NAMES, "--settings"),
        n=n, passes=passes, threads=threads, max_batch_tokens=max_batch_tokens, max_batch_size=max_batch_size,
        data=data, model=model, quick=quick, levers=levers, bert_base_model=bert_base_model,
        gemm_shape=parse_shape(gemm_shape),
    )
    result = run_benchmark(config, show_progress=sys.stderr.isatty())
    data = to_json(result)
    render_table(data, Console())
    written = write_outputs(data, Path(out), Path(json_path) if json_path else None)
    click.echo(f"median of {passes_text(config.passes)} after a warm-up; threads: {config.threads}; wrote "
               + ", ".join(dict.fromkeys(str(path) for path in written.values())))  # --json may repeat bench.json
