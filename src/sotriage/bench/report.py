"""bench.json, bench.md and the terminal table of a benchmark run; every file is written atomically."""

from __future__ import annotations

import logging
import shlex
from pathlib import Path

from ..io import write_json, write_text
from .config import (BACKEND_TITLES, DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_BATCH_TOKENS, DEFAULT_N, QUICK_N,
                     SETTING_NAMES, BenchConfig, default_threads)
from .ceilings import GEMM_SHAPE
from .runner import BenchResult
from .settings import SETTING_TITLES
from .timing import METHOD, WARMUP_ROWS

log = logging.getLogger(__name__)

SCHEMA = "sotriage-bench/1"
# Above this share of the CPU used by other processes during a run, bench.md flags the run as shared.
SHARED_CPU_SHARE = 0.05


def reproduce_command(config: BenchConfig) -> str:
    """Return the `sotriage bench` command line that repeats this run's selections."""
    parts = ["sotriage", "bench"]
    if config.quick:
        parts.append("--quick")
    if config.model is not None:
        parts += ["--model", config.model]
    if config.data is not None:
        parts += ["--data", config.data]
    for option, value in (("--models", config.models), ("--backends", config.backends), ("--settings", config.settings)):
        if config.explicit.get(option[2:]):
            parts += [option, ",".join(value)]
    if config.n != (QUICK_N if config.quick else DEFAULT_N):
        parts += ["--n", str(config.n)]
    if config.passes != 3:
        parts += ["--passes", str(config.passes)]
    if config.threads != default_threads():
        parts += ["--threads", str(config.threads)]
    if config.max_batch_tokens != DEFAULT_MAX_BATCH_TOKENS:
        parts += ["--max-batch-tokens", str(config.max_batch_tokens)]
    if config.max_batch_size != DEFAULT_MAX_BATCH_SIZE:
        parts += ["--max-batch-size", str(config.max_batch_size)]
    if tuple(config.gemm_shape) != GEMM_SHAPE:
        parts += ["--gemm-shape", ",".join(str(size) for size in config.gemm_shape)]
    if config.levers:
        parts.append("--levers")
    return " ".join(shlex.quote(part) for part in parts)


def to_json(result: BenchResult) -> dict:
    config = result.config
    return {
        "schema": SCHEMA,
        "command": reproduce_command(config),
        "started": result.started,
        "finished": result.finished,
        "duration_s": result.duration_s,
        "method": METHOD.format(rows=WARMUP_ROWS, passes=passes_text(config.passes)),
        "passes": config.passes,
        "statistic": "median",
        "config": config.to_dict(),
        "data": result.workload.to_dict(),
        "hardware": result.environment["hardware"],
        "versions": result.environment["versions"],
        "threads": result.environment["threads"],
        "load_average": {"before": result.environment["load_average_before"],
                         "after": result.environment["load_average_after"]},
        "cpu_share_used_by_other_processes": result.environment["cpu_share_used_by_other_processes"],
        "ceilings": result.ceilings,
        "models": result.models,
        "entries": [entry.to_dict() for entry in result.entries],
        "skipped": result.skipped,
        "goals": result.goals,
        "levers": result.levers,
    }


def write_outputs(data: dict, out_dir: Path, json_path: Path | None = None) -> dict[str, Path]:
    """Write bench.json, bench.md and the plots of `to_json`'s `data` into `out_dir` (and the JSON to `json_path`)."""
    from .plots import plot_latency, plot_throughput

    out_dir.mkdir(parents=True, exist_ok=True)
    written = {"json": out_dir / "bench.json", "markdown": out_dir / "bench.md"}
    write_json(written["json"], data)
    write_text(written["markdown"], to_markdown(data))
    if json_path is not None:
        write_json(json_path, data)
        written["json_copy"] = json_path
    for name, plot in (("throughput", plot_throughput), ("latency", plot_latency)):
        path = plot(data, out_dir / f"{name}.png")
        if path is not None:
            written[name] = path
    return written


def _number(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _entry_table(data: dict, model: str) -> list[str]:
    entries = [e for e in data["entries"] if e["model"] == model and e["setting"] != "latency"]
    if not entries:
        return []
    lines = ["| backend | setting | seq/s | batches | padding | GFLOP/s | share of ceiling |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for e in entries:
        share = e.get("share_of_ceiling")
        share_text = f"{share:.0%} of {e['ceiling']}" if share is not None else "-"
        lines.append(f"| {e['backend_title']} | {e['setting_title']} | {_number(e['seq_per_s'])} | "
                     f"{e['batching']['batches']} | {e['batching']['padding_share']:.0%} | "
                     f"{_number(e['gflop_per_s'], 1)} | {share_text} |")
    return lines


def _latency_table(data: dict, model: str) -> list[str]:
    entries = [e for e in data["entries"] if e["model"] == model and e["setting"] == "latency"]
    if not entries:
        return []
    lines = ["| backend | p50 ms | p95 ms | p99 ms | mean ms |", "| --- | ---: | ---: | ---: | ---: |"]
    for e in entries:
        latency = e["latency"]
        lines.append(f"| {e['backend_title']} | {latency['p50_ms']:.2f} | {latency['p95_ms']:.2f} | "
                     f"{latency['p99_ms']:.2f} | {latency['mean_ms']:.2f} |")
    return lines


def _model_section(data: dict, model: str, info: dict) -> list[str]:
    lengths = info["length_stats"]
    lines = [f"## {model}", "",
             f"{info['source']}; {info['parameters']:,} parameters, {info['architecture']['num_layers']} layers, "
             f"hidden {info['architecture']['hidden_size']}; truncated at {info['max_length']} tokens "
             f"({lengths['share_at_max_length']:.0%} of the questions reach it); token lengths p50 {lengths['p50']}, "
             f"p90 {lengths['p90']}, mean {lengths['mean']}.", ""]
    lines += _entry_table(data, model)
    latency = _latency_table(data, model)
    if latency:
        lines += ["", "Batch-1 latency:", ""] + latency
    lines += ["", f"Best backend: {info['best_backend'] or '-'} ({info['best_setting'] or '-'}, "
                  f"{_number(info['best_seq_per_s'])} seq/s). Speedup vs the reference procedure "
                  f"(PyTorch FP32, batch 32 padded to {info['reference_pad_to']}): {_number(info['speedup_vs_reference'])}x. "
                  f"Speedup vs the standard recipe (ORT INT8 dynamic fused, length-sorted batches of 32): "
                  f"{_number(info['speedup_vs_standard_recipe'])}x.", ""]
    return lines


def to_markdown(data: dict) -> str:
    hardware = data["hardware"]
    flags = ", ".join(flag for flag, present in hardware["flags"].items() if present) or "none of interest"
    versions = ", ".join(f"{name} {version}" for name, version in data["versions"].items() if version)
    threads = data["threads"]
    ceilings = data["ceilings"]
    lines = [
        "# sotriage bench", "",
        f"Command: `{data['command']}`", "",
        f"Run {data['started']} to {data['finished']} ({data['duration_s']:.0f} s). {data['method']}.", "",
        f"Hardware: {hardware['cpu_model']}, {hardware['physical_cores']} physical / {hardware['logical_cores']} logical cores "
        f"({hardware['usable_cores']} usable), {hardware['memory_gb']} GiB; flags: {flags}. "
        f"Load average before/after: {data['load_average']['before']} / {data['load_average']['after']}; "
        f"other processes used {data['cpu_share_used_by_other_processes']:.0%} of the CPU during the run"
        + (" (the CPU was shared, so these figures are lower than on an idle machine)."
           if data["cpu_share_used_by_other_processes"] > SHARED_CPU_SHARE else "."), "",
        f"Threads: {threads['threads']} (torch intra-op {threads['torch_intra_op_threads']}, inter-op "
        f"{threads['torch_inter_op_threads']}; ONNX Runtime intra-op {threads['ort_intra_op_threads']}, inter-op "
        f"{threads['ort_inter_op_threads']}, spinning {'on' if threads['ort_allow_spinning'] else 'off'}); backends run one at a time.", "",
        f"Versions: {versions}.", "",
        f"Data: {data['data']['n']} questions sampled from {data['data']['source']} ({data['data']['kind']}, "
        f"{data['data']['pool_size']} questions).", "",
        f"Ceilings ({ceilings['shape']}, {ceilings['method']}): ORT FP32 {ceilings['ort_fp32']['gflop_per_s']} GFLOP/s, "
        f"ORT INT8 {ceilings['ort_int8']['gflop_per_s']} GOP/s, torch FP32 {ceilings['torch_fp32']['gflop_per_s']} GFLOP/s"
        + (f", OpenVINO {ceilings['openvino']['precision']} {ceilings['openvino']['gflop_per_s']} GFLOP/s" if "openvino" in ceilings else "")
        + ". Shares of ceiling count the FLOPs executed, padding included.", "",
    ]
    for model, info in data["models"].items():
        lines += _model_section(data, model, info)
    if data["goals"]:
        lines += ["## Goals", "", "| model | metric | target | measured | met |", "| --- | --- | --- | ---: | --- |"]
        for goal in data["goals"]:
            met = {None: "-", True: "yes", False: "no"}[goal["met"]]
            lines.append(f"| {goal['model']} | {goal['metric']} | {goal['target']} | {_number(goal['value'])} | {met} |")
        lines.append("")
    if data["levers"]:
        lines += ["## Levers", "", "| model | lever | variant | baseline | backend | setting | value | ratio |",
                  "| --- | --- | --- | --- | --- | --- | ---: | ---: |"]
        for lever in data["levers"]:
            if "skipped" in lever:
                lines.append(f"| {lever['model']} | {lever['lever']} | skipped: {lever['skipped']} | | | | | |")
                continue
            unit = next(key for key in ("seq_per_s", "p50_ms", "q_per_s") if key in lever)
            lines.append(f"| {lever['model']} | {lever['lever']} | {lever['variant']} | {lever['baseline']} | "
                         f"{lever['backend']} | {lever['setting']} | {_number(lever[unit])} {unit} | "
                         f"{_number(lever['ratio_vs_baseline'])} |")
        lines.append("")
    if data["skipped"]:
        lines += ["## Skipped", ""]
        lines += [f"- {item['model'] or 'all models'} / {item['backend'] or 'all backends'}: {item['reason']}"
                  for item in data["skipped"]]
        lines.append("")
    return "\n".join(lines)


def passes_text(passes: int) -> str:
    return "1 pass" if passes == 1 else f"{passes} passes"


def render_table(data: dict, console) -> None:
    """Print one table per model (sequences/s per backend and setting) and the speedups."""
    from rich.table import Table

    for model, info in data["models"].items():
        settings = [s for s in SETTING_NAMES if any(e["setting"] == s and e["model"] == model for e in data["entries"])]
        table = Table(title=f"{model}: sequences/s (share of GEMM ceiling)",
                      caption=f"median of {passes_text(data['passes'])} after a warm-up, threads: {data['threads']['threads']}; "
                              + "; ".join(f"{s}: {SETTING_TITLES[s]}" for s in settings))
        table.add_column("backend")
        for setting in settings:
            table.add_column("latency p50/p95 ms" if setting == "latency" else setting, justify="right")
        backends = list(dict.fromkeys(e["backend"] for e in data["entries"] if e["model"] == model))
        for backend in backends:
            cells = []
            for setting in settings:
                entry = next((e for e in data["entries"] if (e["model"], e["backend"], e["setting"]) == (model, backend, setting)), None)
                cells.append(_cell(entry))
            table.add_row(BACKEND_TITLES.get(backend, backend), *cells)
        console.print(table)
        console.print(f"  best: {info['best_backend']} ({info['best_setting']}); speedup vs reference "
                      f"{_number(info['speedup_vs_reference'])}x, vs standard recipe {_number(info['speedup_vs_standard_recipe'])}x")
    for goal in data["goals"]:
        if goal["met"] is not None:
            console.print(f"  goal {goal['model']} {goal['metric']} {goal['target']}: {_number(goal['value'])} "
                          f"({'met' if goal['met'] else 'not met'})")
    share = data["cpu_share_used_by_other_processes"]
    if share > SHARED_CPU_SHARE:
        console.print(f"  note: other processes used {share:.0%} of the CPU during the run, so these figures are "
                      "lower than on an idle machine")
    for item in data["skipped"]:
        console.print(f"  skipped {item['model'] or 'all models'} / {item['backend'] or 'all backends'}: {item['reason']}")


def _cell(entry: dict | None) -> str:
    if entry is None:
        return "-"
    if entry["setting"] == "latency":
        return f"{entry['latency']['p50_ms']:.1f} / {entry['latency']['p95_ms']:.1f}"
    share = entry.get("share_of_ceiling")
    return f"{entry['seq_per_s']:,.1f}" + (f" ({share:.0%})" if share is not None else "")
