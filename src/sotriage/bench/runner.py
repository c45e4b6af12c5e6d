"""Run the benchmark: every model x backend x setting, one backend at a time, then the speedups.

Backends are created through `runtime.base.create_backend`, so a backend registered later (INT8
static, OpenVINO) is measured as soon as its module and files exist. A backend that cannot be
created for a model is skipped and the reason is recorded.
"""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..errors import InputError, SotriageError
from ..runtime.base import Backend, available_backends, create_backend
from ..runtime.classifier import Classifier
from ..shipped import cache_root
from . import timing
from .ceilings import CostModel, ceiling_for, measure_ceilings, precision_of
from .config import (BACKEND_TITLES, OPENVINO_INT8_BACKEND, OPTIONAL_BACKEND_MODULES, REFERENCE_BACKEND, REFERENCE_SETTING,
                     STANDARD_RECIPE_BACKEND, STANDARD_RECIPE_SETTING, THROUGHPUT_SETTINGS, BenchConfig)
from .environment import CpuShareMeter, configure_threads, hardware, load_average, versions
from .models import BenchModel, ensure_openvino_int8, ensure_static_int8, load_bert_base, load_classifier
from .settings import SETTING_TITLES, BatchPlan, length_stats, plan_batches
from .workloads import Workload, load_workload

log = logging.getLogger(__name__)

# The benchmark builds this file for bert-base in the bench cache. A trained run has it only when
# it was exported with static INT8.
STATIC_BACKEND = "onnx-int8-static"


@dataclass
class Entry:
    """One measured (model, backend, setting)."""

    model: str
    backend: str
    setting: str
    n: int
    pass_seconds: list[float]
    details: dict = field(default_factory=dict)

    @property
    def seq_per_s(self) -> float:
        return timing.throughput(self.n, self.pass_seconds)

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "backend": self.backend,
            "backend_title": BACKEND_TITLES.get(self.backend, self.backend),
            "setting": self.setting,
            "setting_title": SETTING_TITLES[self.setting],
            "seq_per_s": round(self.seq_per_s, 3),
            "n": self.n,
            "median_seconds": round(statistics.median(self.pass_seconds), 4),
            "pass_seconds": [round(s, 4) for s in self.pass_seconds],
            **self.details,
        }


@dataclass
class BenchResult:
    config: BenchConfig
    workload: Workload
    environment: dict
    ceilings: dict
    models: dict[str, dict]
    entries: list[Entry]
    skipped: list[dict]
    levers: list[dict]
    goals: list[dict]
    started: str
    finished: str
    duration_s: float


# Speed goals: (model, summary field, comparison, target, what it means).
GOALS = (
    ("bert-base", "speedup_vs_standard_recipe", ">=", 1.5,
     "best backend and setting vs ORT INT8 dynamic fused in length-sorted batches of 32"),
    ("bert-base", "speedup_vs_reference", ">=", 25.0,
     "best backend and setting vs PyTorch FP32 in batches of 32 padded to 512"),
    ("classifier", "best_end2end_q_per_s", ">=", 134.0, "questions/s end to end, tokenization included, on 2 cores"),
    ("classifier", "best_latency_p50_ms", "<", 6.0, "batch-1 latency p50 (ms) of the fastest backend at batch 1"),
    ("classifier", "best_latency_p95_ms", "<", 20.0, "batch-1 latency p95 (ms) of that backend"),
)


def run_benchmark(config: BenchConfig, show_progress: bool = True) -> BenchResult:
    """Measure everything `config` selects and return the results with their context."""
    started = datetime.now(timezone.utc)
    clock = time.perf_counter()
    backend_names, skipped = select_backends(config)
    workload = load_workload(config.data, config.n, config.seed)
    meter = CpuShareMeter()
    environment = {"hardware": hardware(), "versions": versions(), "load_average_before": load_average()}
    environment["threads"] = configure_threads(config.threads)
    log.info("measuring GEMM ceilings with %d threads", config.threads)
    ceilings = measure_ceilings(config.threads, tuple(config.gemm_shape))

    progress = ProgressDisplay(show_progress)
    entries: list[Entry] = []
    levers: list[dict] = []
    models: dict[str, dict] = {}
    with progress:
        for key in config.models:
            model = load_model(key, config)
            if isinstance(model, str):
                skipped.append({"model": key, "backend": None, "reason": model})
                continue
            names = list(backend_names)
            # Static INT8 is built for models in the bench cache only; a user's run folder is never written to.
            in_cache = model.files.onnx_dir.is_relative_to(cache_root() / "bench")
            if in_cache and STATIC_BACKEND in names:
                reason = ensure_static_int8(model, workload.questions)
                if reason:
                    skipped.append({"model": key, "backend": STATIC_BACKEND, "reason": reason})
                    names.remove(STATIC_BACKEND)
            if OPENVINO_INT8_BACKEND in names:
                reason = ensure_openvino_int8(model, workload.questions, cache_root() / "bench")
                if reason:
                    skipped.append({"model": key, "backend": OPENVINO_INT8_BACKEND, "reason": reason})
                    names.remove(OPENVINO_INT8_BACKEND)
            context = ModelRun(model, config, workload, ceilings, progress)
            models[key] = context.describe()
            entries.extend(context.run(names, skipped))
            if config.levers:
                from .levers import run_levers

                levers.extend(run_levers(context, entries))

    for key in models:
        models[key].update(summarize_model(key, entries))
    environment["load_average_after"] = load_average()
    environment["cpu_share_used_by_other_processes"] = meter.other_processes_share()
    return BenchResult(config, workload, environment, ceilings, models, entries, skipped, levers,
                       evaluate_goals(models, config.threads), started.isoformat(timespec="seconds"),
                       datetime.now(timezone.utc).isoformat(timespec="seconds"), round(time.perf_counter() - clock, 1))


def gpu_backend_names() -> tuple[str, ...]:
    try:
        from ..runtime.gpu import GPU_BACKENDS
    except ImportError:
        return ()
    return tuple(GPU_BACKENDS)


def select_backends(config: BenchConfig) -> tuple[list[str], list[dict]]:
    """Return the registered backends to measure, in a fixed order, and the absent ones with a reason.

    GPU backends are measured only when named in --backends: this benchmark times CPU inference,
    with CPU thread settings and CPU GEMM ceilings.
    """
    registered = available_backends()
    known = list(BACKEND_TITLES) + [name for name in registered if name not in BACKEND_TITLES]
    if config.backends is not None:
        requested = list(config.backends)
    else:
        gpu = gpu_backend_names()
        requested = [name for name in known if name not in gpu]
    unknown = [name for name in requested if name not in known]
    if unknown:
        raise InputError(f"invalid --backends {', '.join(unknown)}: use one or more of {', '.join(known)}")
    names, skipped = [], []
    for name in requested:
        if name in registered:
            names.append(name)
        else:
            module = OPTIONAL_BACKEND_MODULES.get(name, "its module")
            skipped.append({"model": None, "backend": name,
                            "reason": f"backend {name!r} is not registered in this installation ({module} not found)"})
    return names, skipped


def load_model(key: str, config: BenchConfig) -> BenchModel | str:
    """Return the model, or the reason it is skipped when the user did not name it explicitly."""
    cache = cache_root() / "bench"
    if key == "bert-base":
        return load_bert_base(cache, config.bert_base_model)
    try:
        return load_classifier(config.model, cache)
    except SotriageError as error:
        if config.model is not None or config.explicit["models"]:
            raise
        log.warning("skipping the classifier: %s", error)
        return f"{error} Pass --model RUN_DIR to measure a trained run."


def planned_settings(config: BenchConfig, backend: str) -> list[str]:
    """Return the settings to measure for `backend`, in `config.settings` order."""
    if not config.quick:
        return list(config.settings)
    # --quick: the reference procedure (torch), the standard recipe (ORT INT8 dynamic, sorted32),
    # and every other backend in production batching so the best one is measured, not assumed.
    if backend == REFERENCE_BACKEND:
        wanted = {REFERENCE_SETTING}
    elif backend == STANDARD_RECIPE_BACKEND:
        wanted = {STANDARD_RECIPE_SETTING, "production"}
    else:
        wanted = {"production"}
    return [setting for setting in config.settings if setting in wanted]


class ModelRun:
    """Encoded questions and batch plans of one model, and the measurements made with them."""

    def __init__(self, model: BenchModel, config: BenchConfig, workload: Workload, ceilings: dict, progress):
        self.model = model
        self.config = config
        self.workload = workload
        self.ceilings = ceilings
        self.progress = progress
        self.cost = CostModel(model.architecture.hidden_size, model.architecture.num_layers,
                              model.architecture.intermediate_size)
        self.encoder = model.encoder()
        self.encoded = self.encoder.encode(workload.questions)
        self.lengths = [len(item) for item in self.encoded]
        self.plans = {setting: self.plan(setting) for setting in ("reference", "sorted32", "production", "latency")}

    def plan(self, setting: str, max_batch_tokens: int | None = None, encoded=None) -> BatchPlan:
        return plan_batches(setting, encoded if encoded is not None else self.encoded, self.encoder.pad_id,
                            self.model.reference_pad_to, max_batch_tokens or self.config.max_batch_tokens,
                            self.config.max_batch_size)

    def describe(self) -> dict:
        return {
            **self.model.to_dict(),
            "length_stats": length_stats(self.encoded, self.model.max_length),
            "batching": {setting: plan.describe() for setting, plan in self.plans.items()},
            "cost_model": self.cost.to_dict(),
        }

    def run(self, backend_names: list[str], skipped: list[dict]) -> list[Entry]:
        entries = []
        for name in backend_names:
            settings = planned_settings(self.config, name)
            if not settings:
                continue
            backend = self.create(name, skipped)
            if backend is None:
                continue
            try:
                for setting in settings:
                    entry = self.measure(name, backend, setting)
                    # OpenVINO reports the precision it picked (bf16 or f32); the others are fixed by the file.
                    entry.details["precision"] = getattr(backend, "precision", None) or precision_of(name)
                    log.info("%s %s %s: %.2f seq/s", self.model.key, name, setting, entry.seq_per_s)
                    entries.append(entry)
            finally:
                backend.close()
        return entries

    def create(self, name: str, skipped: list[dict]) -> Backend | None:
        try:
            return create_backend(name, self.model.files, self.config.threads)
        except (SotriageError, ImportError, OSError, RuntimeError) as error:
            log.warning("skipping backend %s for %s: %s", name, self.model.key, error)
            skipped.append({"model": self.model.key, "backend": name, "reason": str(error)})
            return None

    def measure(self, name: str, backend: Backend, setting: str) -> Entry:
        passes = self.config.passes
        if setting == "end2end":
            return self.measure_end_to_end(name, backend)
        plan = self.plans[setting]
        timing.warm_up(backend, plan)
        tick = self.progress.task(f"{self.model.key} {name} {setting}", passes * len(plan.batches))
        details: dict = {}
        if setting == "latency":
            pass_seconds, call_seconds = timing.time_calls(backend, plan, passes, tick)
            details["latency"] = timing.latency_percentiles(call_seconds)
        else:
            pass_seconds = timing.time_plan(backend, plan, passes, tick)
        details.update(self.batching_details(setting, plan))
        details.update(self.compute_details(name, plan, pass_seconds))
        return Entry(self.model.key, name, setting, len(self.encoded), pass_seconds, details)

    def measure_end_to_end(self, name: str, backend: Backend) -> Entry:
        passes = self.config.passes
        questions = self.workload.questions
        classifier = Classifier(self.encoder, backend, self.model.label_names,
                                batch_size=self.config.max_batch_size, max_batch_tokens=self.config.max_batch_tokens)
        classifier.logits(questions[: timing.WARMUP_ROWS])
        tick = self.progress.task(f"{self.model.key} {name} end2end", 2 * passes)
        pass_seconds = timing.time_function(lambda: classifier.logits(questions), passes, tick)
        tokenize_seconds = timing.time_function(lambda: self.encoder.encode(questions), passes, tick)
        plan = self.plans["production"]  # Classifier batches exactly like the production setting
        details = self.batching_details("end2end", plan)
        details.update(self.compute_details(name, plan, pass_seconds))
        details["tokenize_q_per_s"] = round(timing.throughput(len(questions), tokenize_seconds), 1)
        details["tokenize_share"] = round(statistics.median(tokenize_seconds) / statistics.median(pass_seconds), 4)
        return Entry(self.model.key, name, "end2end", len(questions), pass_seconds, details)

    def batching_details(self, setting: str, plan: BatchPlan) -> dict:
        details = {"batching": plan.describe()}
        if setting == "reference":
            details["pad_to"] = self.model.reference_pad_to
        if setting in ("production", "end2end"):
            details["max_batch_tokens"] = self.config.max_batch_tokens
            details["max_batch_size"] = self.config.max_batch_size
        return details

    def compute_details(self, backend: str, plan: BatchPlan, pass_seconds: list[float]) -> dict:
        """Return executed and useful GFLOP/s and the executed rate as a share of the matching ceiling."""
        median = statistics.median(pass_seconds)
        executed = sum(self.cost.batch_flops(len(batch["input_ids"]), length)
                       for batch, length in zip(plan.batches, plan.padded_lengths))
        useful = float(sum(self.cost.flops(length) for length in self.lengths))
        details = {
            "gflop_per_pass": round(executed / 1e9, 2),
            "useful_gflop_per_pass": round(useful / 1e9, 2),
            "gflop_per_s": round(executed / median / 1e9, 2),
            "useful_gflop_per_s": round(useful / median / 1e9, 2),
        }
        ceiling = ceiling_for(backend, self.ceilings)
        if ceiling is not None:
            details["ceiling"] = ceiling[0]
            details["share_of_ceiling"] = round(executed / median / 1e9 / ceiling[1], 4)
        return details


class ProgressDisplay:
    """A rich progress bar on stderr, one task per measurement; silent when disabled."""

    def __init__(self, enabled: bool):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=Console(stderr=True), transient=True,
                                 disable=not enabled)
        self.current = None

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc_info):
        return self.progress.__exit__(*exc_info)

    def task(self, description: str, total: int) -> timing.Tick:
        if self.current is not None:
            self.progress.remove_task(self.current)
        self.current = self.progress.add_task(description, total=total)
        task_id = self.current
        return lambda: self.progress.advance(task_id)


def _find(entries: list[Entry], model: str, backend: str, setting: str) -> Entry | None:
    for entry in entries:
        if (entry.model, entry.backend, entry.setting) == (model, backend, setting):
            return entry
    return None


def _ratio(numerator: Entry | None, denominator: Entry | None) -> float | None:
    if numerator is None or denominator is None:
        return None
    return round(numerator.seq_per_s / denominator.seq_per_s, 3)


def summarize_model(key: str, entries: list[Entry]) -> dict:
    """Return the best backend and the speedups of one model, all from this run's entries."""
    mine = [entry for entry in entries if entry.model == key]
    throughput = [entry for entry in mine if entry.setting in THROUGHPUT_SETTINGS]
    best = max(throughput, key=lambda entry: entry.seq_per_s, default=None)
    reference = _find(mine, key, REFERENCE_BACKEND, REFERENCE_SETTING)
    standard = _find(mine, key, STANDARD_RECIPE_BACKEND, STANDARD_RECIPE_SETTING)
    end_to_end = max((e for e in mine if e.setting == "end2end"), key=lambda e: e.seq_per_s, default=None)
    latency = min((e for e in mine if e.setting == "latency"), key=lambda e: e.details["latency"]["p50_ms"], default=None)
    return {
        "best_backend": best.backend if best else None,
        "best_setting": best.setting if best else None,
        "best_seq_per_s": round(best.seq_per_s, 3) if best else None,
        "reference_seq_per_s": round(reference.seq_per_s, 3) if reference else None,
        "standard_recipe_seq_per_s": round(standard.seq_per_s, 3) if standard else None,
        "speedup_vs_reference": _ratio(best, reference),
        "speedup_vs_standard_recipe": _ratio(best, standard),
        "best_end2end_backend": end_to_end.backend if end_to_end else None,
        "best_end2end_q_per_s": round(end_to_end.seq_per_s, 2) if end_to_end else None,
        "best_latency_backend": latency.backend if latency else None,
        "best_latency_p50_ms": latency.details["latency"]["p50_ms"] if latency else None,
        "best_latency_p95_ms": latency.details["latency"]["p95_ms"] if latency else None,
        "best_latency_p99_ms": latency.details["latency"]["p99_ms"] if latency else None,
    }


def evaluate_goals(models: dict[str, dict], threads: int) -> list[dict]:
    """Compare each measured summary value with its goal; `met` is None when it was not measured."""
    goals = []
    for model, name, comparison, target, meaning in GOALS:
        value = models.get(model, {}).get(name)
        if value is None:
            met = None
        elif comparison == ">=":
            met = value >= target
        else:
            met = value < target
        goals.append({"model": model, "metric": name, "target": f"{comparison} {target:g}", "value": value,
                      "met": met, "meaning": meaning, "threads": threads})
    return goals
