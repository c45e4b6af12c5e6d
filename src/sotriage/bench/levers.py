"""Lever experiments (`sotriage bench --levers`): one change at a time against a baseline, same run.

Each lever is measured on the standard recipe's backend (ORT INT8 dynamic, fused) unless it is about
another file, with the same questions, warm-up and median of passes as the main results. A record
names the lever, the variant, the baseline variant and the ratio between them (above 1 = faster).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..encoding import EncodingConfig, QuestionEncoder
from ..runtime.base import Backend
from ..runtime.classifier import Classifier
from ..runtime.onnx_backend import OnnxBackend
from . import timing
from .config import OPENVINO_INT8_BACKEND, STANDARD_RECIPE_BACKEND, STANDARD_RECIPE_SETTING
from .settings import BatchPlan, plan_batches

log = logging.getLogger(__name__)

TOKEN_BUDGETS = (256, 512, 1024, 2048, 4096, 8192, 16384)
MAX_BATCH_SIZES = (32, 128, 256)
PAD_MULTIPLE = 32
SHORT_MAX_LENGTH = 128  # the shorter truncation tried for the classifier
QDQ_LEVER = "OpenVINO INT8 (Q/DQ graph)"


class SessionBackend(Backend):
    """An ONNX Runtime session with explicit thread and spinning settings (the lever under test)."""

    def __init__(self, path: Path, threads: int, spinning: bool, name: str):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        self.name = name
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(["logits"], {name: inputs[name] for name in self.input_names})[0]

    def close(self) -> None:
        self.session = None


def run_levers(context, entries) -> list[dict]:
    """Measure every lever for the model of `context` (a runner.ModelRun); return lever records."""
    model = context.model
    path = model.files.onnx_int8
    if not path.is_file():
        log.warning("levers skipped for %s: %s not found", model.key, path)
        return []
    records = derived_levers(model.key, entries)
    threads = context.config.threads
    backend = OnnxBackend(path, threads, name=STANDARD_RECIPE_BACKEND)
    try:
        records += token_budget_levers(context, backend)
        records += batch_size_levers(context, backend)
        records += pad_multiple_levers(context, backend)
        if model.key == "classifier" and model.max_length > SHORT_MAX_LENGTH:
            records += max_length_levers(context, backend)
    finally:
        backend.close()
    records += spinning_levers(context, path)
    records += thread_levers(context, path)
    records += tokenizer_levers(context)
    if model.files.onnx_unfused.is_file() and model.files.onnx_fp32.is_file():
        records += fusion_levers(context)
    records += openvino_int8_levers(model.key, entries)
    return records


def _record(model: str, lever: str, variant: str, baseline: str, backend: str, setting: str,
            value: float, baseline_value: float | None, unit: str = "seq_per_s", **details) -> dict:
    higher_is_better = unit != "p50_ms"
    ratio = None
    if baseline_value:
        ratio = value / baseline_value if higher_is_better else baseline_value / value
    log.info("lever %s, %s: %s %s = %.3f (vs %s: ratio %s)", model, lever, variant, unit, value, baseline,
             "-" if ratio is None else f"{ratio:.3f}")
    return {"model": model, "lever": lever, "variant": variant, "baseline": baseline, "backend": backend,
            "setting": setting, unit: round(value, 3), "ratio_vs_baseline": None if ratio is None else round(ratio, 3),
            **details}


def _measure(context, backend: Backend, plan: BatchPlan, label: str) -> float:
    timing.warm_up(backend, plan)
    tick = context.progress.task(f"{context.model.key} lever: {label}", context.config.passes * len(plan.batches))
    seconds = timing.time_plan(backend, plan, context.config.passes, tick)
    return timing.throughput(plan.rows, seconds)


def _p50_ms(context, backend: Backend, label: str, plan: BatchPlan | None = None) -> float:
    plan = plan or context.plans["latency"]
    timing.warm_up(backend, plan)
    tick = context.progress.task(f"{context.model.key} lever: {label}", context.config.passes * len(plan.batches))
    _, calls = timing.time_calls(backend, plan, context.config.passes, tick)
    return timing.latency_percentiles(calls)["p50_ms"]


def derived_levers(model: str, entries) -> list[dict]:
    """Padding removed and token-budget batching, read from the main entries (no extra runs)."""
    by_key = {(e.model, e.backend, e.setting): e for e in entries}
    records = []
    for backend in sorted({e.backend for e in entries if e.model == model}):
        reference = by_key.get((model, backend, "reference"))
        sorted32 = by_key.get((model, backend, "sorted32"))
        production = by_key.get((model, backend, "production"))
        if reference and sorted32:
            records.append(_record(model, "padding removed", "sorted32", "reference", backend, "sorted32",
                                   sorted32.seq_per_s, reference.seq_per_s))
        if sorted32 and production:
            records.append(_record(model, "token-budget batching", "production", "sorted32", backend, "production",
                                   production.seq_per_s, sorted32.seq_per_s,
                                   max_batch_tokens=production.details.get("max_batch_tokens")))
    return records


def token_budget_levers(context, backend: Backend) -> list[dict]:
    default = context.config.max_batch_tokens
    budgets = sorted(set(TOKEN_BUDGETS) | {default})
    results = {budget: _measure(context, backend, context.plan("production", budget), f"budget {budget}")
               for budget in budgets}
    return [_record(context.model.key, "token budget", str(budget), str(default), backend.name, "production",
                    value, results[default], batches=len(context.plan("production", budget).batches))
            for budget, value in results.items()]


def batch_size_levers(context, backend: Backend) -> list[dict]:
    config = context.config
    results = {}
    for size in sorted(set(MAX_BATCH_SIZES) | {config.max_batch_size}):
        plan = plan_batches("production", context.encoded, context.encoder.pad_id, context.model.reference_pad_to,
                            config.max_batch_tokens, size)
        results[size] = _measure(context, backend, plan, f"max batch size {size}")
    return [_record(context.model.key, "max batch size", str(size), str(config.max_batch_size), backend.name,
                    "production", value, results[config.max_batch_size]) for size, value in results.items()]


def pad_multiple_levers(context, backend: Backend) -> list[dict]:
    """Pad each production batch up to a multiple of PAD_MULTIPLE tokens (sequence bucketing)."""
    baseline = context.plans["production"]
    batches, lengths = [], []
    for batch in baseline.batches:
        length = batch["input_ids"].shape[1]
        target = min(-(-length // PAD_MULTIPLE) * PAD_MULTIPLE, context.model.architecture.max_position_embeddings)
        batches.append(_pad_right(batch, target, context.encoder.pad_id))
        lengths.append(target)
    bucketed = BatchPlan("production", batches, baseline.real_tokens, lengths)
    base = _measure(context, backend, baseline, "exact padding")
    value = _measure(context, backend, bucketed, f"pad to multiple of {PAD_MULTIPLE}")
    return [_record(context.model.key, "sequence bucketing", f"pad to multiple of {PAD_MULTIPLE}", "pad to batch max",
                    backend.name, "production", value, base)]


def _pad_right(batch: dict[str, np.ndarray], length: int, pad_id: int) -> dict[str, np.ndarray]:
    extra = length - batch["input_ids"].shape[1]
    if extra <= 0:
        return batch
    padded = {}
    for name, array in batch.items():
        fill = pad_id if name == "input_ids" else 0
        padded[name] = np.pad(array, ((0, 0), (0, extra)), constant_values=fill)
    return padded


def max_length_levers(context, backend: Backend) -> list[dict]:
    """Truncate the classifier's questions at SHORT_MAX_LENGTH instead of its max_length (speed only).

    Measured in production batching, at batch 1 (p50) and end to end, the three places a shorter
    max_length could move a goal.
    """
    model = context.model
    short = EncodingConfig(**{**model.encoding.to_dict(), "max_length": SHORT_MAX_LENGTH,
                              "tail_tokens": min(model.encoding.tail_tokens, SHORT_MAX_LENGTH // 4),
                              "title_max_tokens": min(model.encoding.title_max_tokens, SHORT_MAX_LENGTH // 4)})
    short_encoder = QuestionEncoder(context.encoder.tokenizer, short)
    encoded = short_encoder.encode(context.workload.questions)
    results = {}
    for length, encoder, plans in ((model.max_length, context.encoder, context.plans),
                                   (SHORT_MAX_LENGTH, short_encoder,
                                    {s: context.plan(s, encoded=encoded) for s in ("production", "latency")})):
        label = f"max_length {length}"
        results[length] = {
            "production": _measure(context, backend, plans["production"], label),
            "latency": _p50_ms(context, backend, label + ", batch 1", plans["latency"]),
            "end2end": _end_to_end(context, backend, encoder, label + ", end to end"),
        }
    # NOTE: speed only. This does not measure the accuracy of a model trained at a longer max_length
    # and run at the shorter one, so check that with `sotriage evaluate` before shipping it.
    short_results, base = results[SHORT_MAX_LENGTH], results[model.max_length]
    return [
        _record(model.key, "max length", str(SHORT_MAX_LENGTH), str(model.max_length), backend.name, "production",
                short_results["production"], base["production"], accuracy="not measured"),
        _record(model.key, "max length", str(SHORT_MAX_LENGTH), str(model.max_length), backend.name, "latency",
                short_results["latency"], base["latency"], unit="p50_ms", accuracy="not measured"),
        _record(model.key, "max length", str(SHORT_MAX_LENGTH), str(model.max_length), backend.name, "end2end",
                short_results["end2end"], base["end2end"], unit="q_per_s", accuracy="not measured"),
    ]


def _end_to_end(context, backend: Backend, encoder: QuestionEncoder, label: str) -> float:
    """Return questions/s of tokenization, production batching and `backend` together."""
    config = context.config
    questions = context.workload.questions
    classifier = Classifier(encoder, backend, context.model.label_names, batch_size=config.max_batch_size,
                            max_batch_tokens=config.max_batch_tokens)
    classifier.logits(questions[: timing.WARMUP_ROWS])
    tick = context.progress.task(f"{context.model.key} lever: {label}", config.passes)
    return timing.throughput(len(questions), timing.time_function(lambda: classifier.logits(questions), config.passes, tick))


def spinning_levers(context, path: Path) -> list[dict]:
    threads = context.config.threads
    results = {}
    for spinning in (False, True):
        backend = SessionBackend(path, threads, spinning, STANDARD_RECIPE_BACKEND)
        try:
            label = f"spinning {'on' if spinning else 'off'}"
            results[spinning] = (_measure(context, backend, context.plans["production"], label),
                                 _p50_ms(context, backend, label + ", batch 1"))
        finally:
            backend.close()
    key = context.model.key
    return [
        _record(key, "ORT spinning", "on", "off", STANDARD_RECIPE_BACKEND, "production", results[True][0], results[False][0]),
        _record(key, "ORT spinning", "on", "off", STANDARD_RECIPE_BACKEND, "latency", results[True][1], results[False][1],
                unit="p50_ms"),
    ]


def thread_levers(context, path: Path) -> list[dict]:
    threads = context.config.threads
    counts = sorted({1, threads})
    results = {}
    for count in counts:
        backend = SessionBackend(path, count, False, STANDARD_RECIPE_BACKEND)
        try:
            results[count] = _measure(context, backend, context.plans["production"], f"{count} intra-op threads")
        finally:
            backend.close()
    return [_record(context.model.key, "intra-op threads", str(count), str(threads), STANDARD_RECIPE_BACKEND,
                    "production", value, results[threads]) for count, value in results.items()]


def tokenizer_levers(context) -> list[dict]:
    """Tokenize all questions in one batched call vs one call per question."""
    questions = context.workload.questions
    encoder = context.encoder
    passes = context.config.passes
    tick = context.progress.task(f"{context.model.key} lever: tokenizer batching", 2 * passes)
    batched = timing.time_function(lambda: encoder.encode(questions), passes, tick)
    single = timing.time_function(lambda: [encoder.encode([q]) for q in questions], passes, tick)
    n = len(questions)
    return [_record(context.model.key, "tokenizer batching", "one batched call", "one call per question", "tokenizer",
                    "tokenize", timing.throughput(n, batched), timing.throughput(n, single), unit="q_per_s")]


def fusion_levers(context) -> list[dict]:
    """ONNX Runtime's BERT fusions: the fused FP32 graph vs the plain export, length-sorted batches of 32."""
    files = context.model.files
    plan = context.plans[STANDARD_RECIPE_SETTING]
    results = {}
    for label, path in (("unfused", files.onnx_unfused), ("fused", files.onnx_fp32)):
        backend = OnnxBackend(path, context.config.threads, name=f"onnx-{label}")
        try:
            results[label] = _measure(context, backend, plan, f"FP32 {label}")
        finally:
            backend.close()
    return [_record(context.model.key, "graph fusion (FP32)", "fused", "unfused", "onnx", STANDARD_RECIPE_SETTING,
                    results["fused"], results["unfused"])]


def openvino_int8_levers(model: str, entries) -> list[dict]:
    """OpenVINO on the Q/DQ INT8 graph against the standard recipe's backend, setting by setting.

    Read from the main entries of the openvino-int8 and onnx-int8 backends (no extra runs), so both
    sides of each ratio come from the same run.
    """
    by_key = {(e.model, e.backend, e.setting): e for e in entries}
    records = []
    for setting in ("sorted32", "production", "latency", "end2end"):
        candidate = by_key.get((model, OPENVINO_INT8_BACKEND, setting))
        baseline = by_key.get((model, STANDARD_RECIPE_BACKEND, setting))
        if candidate is None or baseline is None:
            continue
        if setting == "latency":
            value, base_value, unit = candidate.details["latency"]["p50_ms"], baseline.details["latency"]["p50_ms"], "p50_ms"
        else:
            value, base_value = candidate.seq_per_s, baseline.seq_per_s
            unit = "q_per_s" if setting == "end2end" else "seq_per_s"
        records.append(_record(model, QDQ_LEVER, "openvino-int8 (model-int8-qdq.onnx)", STANDARD_RECIPE_BACKEND,
                               OPENVINO_INT8_BACKEND, setting, value, base_value, unit=unit))
    return records

