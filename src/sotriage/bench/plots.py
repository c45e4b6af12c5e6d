"""PNG charts of a benchmark: throughput per backend and setting, and batch-1 latency percentiles."""

from __future__ import annotations

from pathlib import Path

from ..io import atomic_path
from .config import BACKEND_TITLES, SETTING_NAMES


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; no display is needed or assumed
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return path


def _backend_colors(entries: list[dict]) -> dict[str, str]:
    """Give each backend one color across every subplot, in the order backends first appear."""
    backends = list(dict.fromkeys(e["backend"] for e in entries))
    return {backend: f"C{i % 10}" for i, backend in enumerate(backends)}


def plot_throughput(data: dict, path: Path) -> Path | None:
    """Grouped bars per model: sequences/s (log scale) of each backend in each batch setting."""
    models = [m for m in data["models"] if any(e["model"] == m and e["setting"] != "latency" for e in data["entries"])]
    if not models:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(models), figsize=(6.5 * len(models), 4.5), squeeze=False)
    colors = _backend_colors(data["entries"])
    for axis, model in zip(axes[0], models):
        entries = [e for e in data["entries"] if e["model"] == model and e["setting"] != "latency"]
        settings = [s for s in SETTING_NAMES if any(e["setting"] == s for e in entries)]
        backends = list(dict.fromkeys(e["backend"] for e in entries))
        width = 0.8 / len(backends)
        for offset, backend in enumerate(backends):
            values = [next((e["seq_per_s"] for e in entries if (e["backend"], e["setting"]) == (backend, s)), 0.0)
                      for s in settings]
            positions = [i + (offset - (len(backends) - 1) / 2) * width for i in range(len(settings))]
            axis.bar(positions, values, width, label=BACKEND_TITLES.get(backend, backend), color=colors[backend])
        axis.set_xticks(range(len(settings)), settings)
        axis.set_yscale("log")
        axis.set_ylabel("sequences/s (median of passes)")
        axis.set_title(f"{model}: throughput (threads: {data['threads']['threads']})")
        # Below the axes, so the legend never covers a bar.
        axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3)
    try:
        return _save(figure, path)
    finally:
        plt.close(figure)


def plot_latency(data: dict, path: Path) -> Path | None:
    """Grouped bars per model: p50, p95 and p99 batch-1 latency (ms) of each backend."""
    latency = [e for e in data["entries"] if e["setting"] == "latency"]
    models = list(dict.fromkeys(e["model"] for e in latency))
    if not models:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(models), figsize=(6.5 * len(models), 4.5), squeeze=False)
    percentiles = ("p50_ms", "p95_ms", "p99_ms")
    for axis, model in zip(axes[0], models):
        entries = [e for e in latency if e["model"] == model]
        width = 0.8 / len(percentiles)
        for offset, name in enumerate(percentiles):
            positions = [i + (offset - 1) * width for i in range(len(entries))]
            axis.bar(positions, [e["latency"][name] for e in entries], width, label=name.replace("_ms", ""))
        axis.set_xticks(range(len(entries)), [BACKEND_TITLES.get(e["backend"], e["backend"]) for e in entries],
                        rotation=15, fontsize=8)
        axis.set_yscale("log")
        axis.set_ylabel("ms per question, batch 1")
        axis.set_title(f"{model}: batch-1 latency (threads: {data['threads']['threads']})")
        axis.legend(fontsize=8)
    try:
        return _save(figure, path)
    finally:
        plt.close(figure)
