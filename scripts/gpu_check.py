#!/usr/bin/env python
"""GPU check: parity with CPU FP32 and throughput of every GPU backend this machine supports.

Covers torch-cuda-fp16/bf16 whenever CUDA is present, onnx-cuda when onnxruntime-gpu provides
CUDAExecutionProvider, and tensorrt-fp16/int8 when TensorRT imports (engines are built into a
temporary folder, never into the model's run folder). Each backend runs on two models:

  * a trained classifier (--model: a run or model folder; default the model shipped with sotriage),
  * BERT-base architecture with random weights (transformers' BertConfig()).

Measurements per (model, backend):
  * parity with PyTorch FP32 on the CPU: max |logit difference|, argmax agreement and, for the
    trained classifier, the accuracy drop, on real questions (--data, else the run's validation
    split, else the bundled sample);
  * throughput at the real length mix (length-sorted batches of 32 padded to each batch's longest);
  * throughput at batch 32 x sequence 512 (every batch padded to 512), the reference comparison.

It prints a table (also written as Markdown with --markdown) and a JSON file, and lists every
backend it could not run with the reason. Without a CUDA device it prints "no CUDA device" and
exits 1; --dry-run does the CPU-side part only (arguments, discovery, questions, the table).
Designed to finish in under 8 minutes on one H200: --time-budget stops starting new measurements.

Example (on the GPU machine, no network needed):
    python scripts/gpu_check.py --model runs/minilm-lora --out gpu-check.json --markdown gpu-check.md
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ALL_BACKENDS = ("torch-cuda-fp16", "torch-cuda-bf16", "onnx-cuda", "tensorrt-fp16", "tensorrt-int8")
CPU_SELF_TEST_BACKENDS = ("torch", "onnx")
# BertConfig() keyword overrides; empty means BERT-base. Tests shrink the model here.
BERT_OVERRIDES: dict = {}
REQUIRED_PACKAGES = ("numpy", "torch", "transformers", "tokenizers", "safetensors", "onnx", "onnxruntime")

log = logging.getLogger("gpu_check")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="Run folder or merged model folder of a trained classifier (default: the shipped model).")
    parser.add_argument("--data", default=None, help="Prepared dataset folder (its validation split) or Kaggle-schema CSV with real questions.")
    parser.add_argument("--backends", default=",".join(ALL_BACKENDS), help="Comma-separated GPU backends to try.")
    parser.add_argument("--examples", type=int, default=1024, help="Questions for the real-length-mix throughput.")
    parser.add_argument("--parity-examples", type=int, default=256, help="Questions compared with CPU FP32 (the CPU run is the slow part).")
    parser.add_argument("--batch-size", type=int, default=32, help="Batch size of both throughput settings.")
    parser.add_argument("--fixed-seq", type=int, default=512, help="Sequence length of the padded reference setting.")
    parser.add_argument("--fixed-batches", type=int, default=8, help="Batches timed at batch-size x fixed-seq.")
    parser.add_argument("--repeats", type=int, default=3, help="Timed passes per setting after one warm-up; the median is reported.")
    parser.add_argument("--min-agreement", type=float, default=0.99, help="Argmax agreement with CPU FP32 below which a float backend fails (int8: --int8-min-agreement).")
    parser.add_argument("--int8-min-agreement", type=float, default=0.95, help="Argmax agreement with CPU FP32 below which tensorrt-int8 fails.")
    parser.add_argument("--calibration-examples", type=int, default=128,
                        help="Questions that calibrate the TensorRT INT8 Q/DQ model (calibration runs on the CPU).")
    parser.add_argument("--no-bert-base", action="store_true", help="Skip the BERT-base (random weights) model.")
    parser.add_argument("--tokenizer", default=None,
                        help="WordPiece tokenizer folder for BERT-base's real length mix when the trained model cannot be loaded.")
    parser.add_argument("--time-budget", type=float, default=450.0, help="Seconds after which no new measurement starts (the whole run stays under 8 minutes on an H200).")
    parser.add_argument("--out", default="gpu-check.json", help="JSON file to write.")
    parser.add_argument("--markdown", default=None, help="Also write the table as Markdown to this file (for docs/results.md).")
    parser.add_argument("--dry-run", action="store_true", help="CPU-side part only: arguments, backend discovery, questions, the table.")
    parser.add_argument("--cpu-self-test", action="store_true",
                        help=f"Run every measurement with the CPU backends {', '.join(CPU_SELF_TEST_BACKENDS)} instead, to test this "
                             "script without a GPU (the numbers are CPU numbers).")
    parser.add_argument("-v", "--verbose", action="store_true", help="Log progress to stderr.")
    args = parser.parse_args(argv)

    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = [name for name in backends if name not in ALL_BACKENDS]
    if unknown:
        parser.error(f"unknown backend(s) {', '.join(unknown)}: use any of {', '.join(ALL_BACKENDS)}")
    args.backends = backends
    for name in ("examples", "parity_examples", "batch_size", "fixed_seq", "fixed_batches", "repeats", "calibration_examples"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be 1 or more, got {getattr(args, name)}")
    return args


def missing_packages() -> list[str]:
    import importlib.util

    return [name for name in REQUIRED_PACKAGES if importlib.util.find_spec(name) is None]


def import_sotriage() -> None:
    """Import sotriage from the installed package, else from this checkout's src/ folder."""
    try:
        import sotriage  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(REPO / "src"))
        import sotriage  # noqa: F401


@dataclass
class Row:
    """One (model, backend) result. `reason` explains why it did not run or failed."""

    model: str
    backend: str
    status: str = "not run"  # ok | failed | skipped | not run
    reason: str | None = None
    parity: dict = field(default_factory=dict)
    real_mix_seq_per_s: float | None = None
    fixed_seq_per_s: float | None = None
    real_mix_batch_ms_p50: float | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class Budget:
    def __init__(self, seconds: float):
        self.started = time.perf_counter()
        self.seconds = seconds

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def exhausted(self) -> bool:
        return self.elapsed() > self.seconds


def machine_info() -> dict:
    import numpy
    import torch

    info = {"python": platform.python_version(), "numpy": numpy.__version__, "torch": torch.__version__,
            "torch_cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available(), "cpu_count": os.cpu_count()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
        info["onnxruntime_providers"] = onnxruntime.get_available_providers()
    except ImportError:
        info["onnxruntime"] = None
    from sotriage.runtime.gpu import tensorrt_version

    info["tensorrt"] = tensorrt_version()
    return info


def discover(backends: list[str]) -> dict[str, str | None]:
    """Map each requested backend to None (can run) or the reason it cannot run here."""
    from sotriage.runtime.gpu import backend_problems

    return {name: (" ".join(backend_problems(name)) or None) for name in backends}


# ---------------------------------------------------------------- models and questions


@dataclass
class CheckModel:
    """A model under test: its files, encoder (None without a tokenizer) and labelled questions."""

    label: str
    resolved: object  # sotriage ResolvedModel
    encoder: object | None
    questions: object | None  # LabelledQuestions
    labelled: bool  # whether accuracy means anything (False for random weights)
    vocab_size: int
    max_positions: int = 512
    note: str | None = None


def load_questions(args, resolved):
    """Real questions for the check: --data, else the run's validation split, else the bundled sample."""
    from sotriage.evaluation.evaluate import evaluation_questions
    from sotriage.export.pipeline import parity_questions
    from sotriage.run_dir import RunDir

    wanted = max(args.examples, args.parity_examples)
    if args.data:
        questions, source = evaluation_questions(resolved, args.data, split="validation", max_examples=wanted)
        return questions, source
    run = RunDir(resolved.run_dir) if resolved.run_dir else None
    questions = parity_questions(run, wanted)
    source = "the run's validation split" if run is not None and run.split.is_file() else "the bundled sample"
    return questions, source


def standalone_questions(args):
    """Real questions without a trained model: --data (prepared folder or Kaggle CSV), else the bundled sample."""
    from sotriage.data.dataset import LabelledQuestions, load_dataset
    from sotriage.data.kaggle import read_kaggle_csv
    from sotriage.demo_data import sample_questions

    wanted = max(args.examples, args.parity_examples)
    if args.data and Path(args.data).is_dir():
        return load_dataset(args.data).split("validation").head(wanted), f"{args.data} (validation split)"
    if args.data:
        questions = list(read_kaggle_csv(args.data, max_rows=wanted))
        return LabelledQuestions(questions, [0] * len(questions)), args.data  # labels unused for random weights
    return sample_questions().head(wanted), "the bundled sample"


def trained_model(args) -> CheckModel:
    from sotriage.encoding import EncodingConfig, QuestionEncoder
    from sotriage.modeling import load_tokenizer, read_sotriage_config
    from sotriage.runtime.model_ref import resolve_model
    from transformers import AutoConfig

    resolved = resolve_model(args.model)
    settings = read_sotriage_config(resolved.files.model_dir)
    encoder = QuestionEncoder(load_tokenizer(str(resolved.files.model_dir)), EncodingConfig(**settings.get("encoding", {})))
    questions, source = load_questions(args, resolved)
    config = AutoConfig.from_pretrained(str(resolved.files.model_dir))
    label = f"trained ({Path(args.model).name if args.model else 'shipped model'})"
    return CheckModel(label, resolved, encoder, questions, True, config.vocab_size, config.max_position_embeddings,
                      note=f"questions from {source}")


def bert_base_model(work: Path, trained: CheckModel | None, args) -> CheckModel:
    """BERT-base (BertConfig() defaults, random weights) with a WordPiece tokenizer for real lengths.

    The tokenizer is the trained model's, else the --tokenizer folder. all-MiniLM-L6-v2 uses
    bert-base-uncased's vocabulary, so its token ids fit BertConfig()'s 30522-entry embedding table.
    """
    import torch
    from sotriage.encoding import EncodingConfig, QuestionEncoder
    from sotriage.io import write_json
    from sotriage.modeling import SOTRIAGE_CONFIG
    from sotriage.runtime.base import ModelFiles
    from sotriage.runtime.model_ref import ResolvedModel
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(num_labels=2, **BERT_OVERRIDES)
    encoder, questions, note = None, None, "random token ids only: no tokenizer (the trained model did not load; pass --tokenizer)"
    if trained is not None and trained.encoder is not None:
        tokenizer, questions = trained.encoder.tokenizer, trained.questions
        note = f"trained model's tokenizer at max_length 512; {trained.note}"
    elif args.tokenizer:
        from sotriage.modeling import load_tokenizer

        tokenizer = load_tokenizer(args.tokenizer)
        questions, source = standalone_questions(args)
        note = f"tokenizer {args.tokenizer} at max_length 512; questions from {source}"
    if questions is not None and tokenizer.vocab_size > config.vocab_size:
        note = f"random token ids only: the tokenizer's {tokenizer.vocab_size} tokens exceed BERT-base's vocabulary of {config.vocab_size}"
        questions = None
    if questions is not None:
        encoder = QuestionEncoder(tokenizer, EncodingConfig(max_length=512))
    torch.manual_seed(0)
    model_dir = work / "bert-base" / "model"
    BertForSequenceClassification(config).save_pretrained(model_dir, safe_serialization=True)
    if encoder is not None:
        encoder.tokenizer.save_pretrained(model_dir)
    write_json(model_dir / SOTRIAGE_CONFIG, {"label_names": ["open", "closed"], "encoding": {"max_length": 512}})
    resolved = ResolvedModel(ModelFiles(model_dir, work / "bert-base" / "onnx"), ["open", "closed"], None)
    return CheckModel("BERT-base (random)", resolved, encoder, questions, False, config.vocab_size,
                      config.max_position_embeddings, note=note)


def ensure_onnx(model: CheckModel, work: Path) -> None:
    """Point the model at ONNX files in a work folder: links to its own, or a fresh export.

    TensorRT engines are cached beside the ONNX folder, so this also keeps them out of the run folder.
    """
    from sotriage.export.fusion import fuse_bert
    from sotriage.export.onnx_export import export_onnx
    from sotriage.runtime.base import ModelFiles
    from transformers import AutoConfig

    files = model.resolved.files
    onnx_dir = work / ("".join(c if c.isalnum() else "-" for c in model.label)) / "onnx"
    onnx_dir.mkdir(parents=True, exist_ok=True)
    if files.onnx_fp32.is_file() and files.onnx_unfused.is_file():
        for source in (files.onnx_unfused, files.onnx_fp32):
            (onnx_dir / source.name).symlink_to(source.resolve())
    else:
        config = AutoConfig.from_pretrained(str(files.model_dir))
        export_onnx(files.model_dir, onnx_dir / "model.onnx")
        fuse_bert(onnx_dir / "model.onnx", onnx_dir / "model-fused.onnx", config.num_attention_heads, config.hidden_size)
    model.resolved.files = ModelFiles(files.model_dir, onnx_dir)


# ---------------------------------------------------------------- measurements


def fixed_batches(model: CheckModel, batch: int, seq: int, count: int, seed: int = 0) -> list[dict]:
    """Batches of random token ids, every row a full `seq` tokens (the padded reference setting)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    low = 1000 if model.vocab_size > 2000 else 5  # skip the special tokens of a WordPiece vocabulary
    return [{
        "input_ids": rng.integers(low, model.vocab_size, (batch, seq), dtype=np.int64),
        "attention_mask": np.ones((batch, seq), dtype=np.int64),
        "token_type_ids": np.zeros((batch, seq), dtype=np.int64),
    } for _ in range(count)]


def real_mix_batches(model: CheckModel, n: int, batch_size: int) -> list[tuple]:
    """Length-sorted batches (indices, padded inputs) of the first `n` questions."""
    from sotriage.encoding import length_sorted_batches, pad_batch

    encoded = model.encoder.encode(model.questions.questions[:n])
    lengths = [len(item) for item in encoded]
    return [(index, pad_batch([encoded[i] for i in index], model.encoder.pad_id))
            for index in length_sorted_batches(lengths, batch_size)]


def run_batches(backend, batches: list[dict], num_labels: int, rows: int | None = None):
    """Run `batches` (list of (indices, inputs) or inputs); return logits in question order."""
    import numpy as np

    if batches and isinstance(batches[0], tuple):
        logits = np.zeros((rows, num_labels), dtype=np.float32)
        for index, inputs in batches:
            logits[index] = backend(inputs)
        return logits
    return np.concatenate([backend(inputs) for inputs in batches], axis=0)


def time_batches(backend, batches: list, repeats: int) -> tuple[float, float]:
    """Return (sequences/s median over `repeats` passes after a warm-up, median batch latency in ms)."""
    items = [inputs if not isinstance(inputs, tuple) else inputs[1] for inputs in batches]
    sequences = sum(len(inputs["input_ids"]) for inputs in items)
    for inputs in items[: max(1, len(items) // 4)]:
        backend(inputs)  # warm-up: CUDA context, cuBLAS handles, autotuning
    rates, latencies = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        for inputs in items:
            batch_started = time.perf_counter()
            backend(inputs)
            latencies.append((time.perf_counter() - batch_started) * 1000)
        rates.append(sequences / (time.perf_counter() - started))
    return statistics.median(rates), statistics.median(latencies)


def reference_logits(model: CheckModel, args, mix, fixed) -> dict:
    """CPU FP32 PyTorch logits for the parity questions and the first fixed batch."""
    import torch
    from sotriage.runtime.torch_backend import TorchBackend

    torch.set_num_threads(os.cpu_count() or 1)
    backend = TorchBackend(model.resolved.files.model_dir, threads=os.cpu_count())
    num_labels = len(model.resolved.label_names)
    result = {"fixed": run_batches(backend, fixed[:1], num_labels)}
    if mix is not None:
        result["mix"] = run_batches(backend, mix["parity"], num_labels, rows=mix["parity_rows"])
    return result


def build_engines(model: CheckModel, precisions: list[str], work: Path, args) -> dict[str, str]:
    """Build TensorRT engines into `work` (never the run folder); return precision -> error for failures."""
    from sotriage.data.dataset import LabelledQuestions
    from sotriage.export.tensorrt_pipeline import TensorRTExportConfig, build_tensorrt_engines

    failures = {}
    validation = model.questions.head(args.parity_examples)
    calibration = model.questions.questions[args.parity_examples:] or model.questions.questions
    for precision in precisions:
        # The profile also covers the fixed batch x sequence setting when the model allows it.
        max_length = min(max(model.encoder.config.max_length, args.fixed_seq), model.max_positions)
        config = TensorRTExportConfig(precisions=(precision,), max_batch=args.batch_size, max_length=max_length,
                                      parity_examples=args.parity_examples, fp16_min_agreement=0.0, int8_min_agreement=0.0,
                                      max_drop_points=None)
        config.qdq.min_agreement = 0.0  # the table reports agreement, and check_backend applies the gate
        config.qdq.calibration_examples = args.calibration_examples
        try:
            build_tensorrt_engines(model.resolved, None, config, validation=LabelledQuestions(validation.questions, validation.labels),
                                   calibration=calibration[: config.qdq.calibration_examples])
        except Exception as error:  # report and continue with the other backends
            log.exception("engine build failed")
            failures[precision] = f"engine build failed: {error}"
    return failures


def check_backend(row: Row, model: CheckModel, args, mix, fixed, reference) -> None:
    from sotriage.runtime.base import create_backend
    from sotriage.runtime.gpu import parity_report

    import numpy as np

    backend = create_backend(row.backend, model.resolved.files)
    try:
        num_labels = len(model.resolved.label_names)
        if mix is not None:
            logits = run_batches(backend, mix["parity"], num_labels, rows=mix["parity_rows"])
            labels = np.asarray(model.questions.labels[: mix["parity_rows"]]) if model.labelled else None
            row.parity = parity_report(reference["mix"], logits, labels)
            row.real_mix_seq_per_s, row.real_mix_batch_ms_p50 = time_batches(backend, mix["timed"], args.repeats)
        else:
            row.parity = parity_report(reference["fixed"], run_batches(backend, fixed[:1], num_labels))
        row.fixed_seq_per_s, _ = time_batches(backend, fixed, args.repeats)
    finally:
        backend.close()
    minimum = args.int8_min_agreement if row.backend.endswith("int8") else args.min_agreement
    if row.parity["argmax_agreement"] < minimum:
        row.status, row.reason = "failed", f"argmax agreement {row.parity['argmax_agreement']:.1%} < {minimum:.0%}"
    else:
        row.status = "ok"


def check_model(model: CheckModel, args, status: dict, budget: Budget, work: Path) -> list[Row]:
    import torch

    rows = [Row(model.label, name) for name in args.backends]
    mix = None
    if model.encoder is not None and model.questions is not None:
        parity = real_mix_batches(model, args.parity_examples, args.batch_size)
        mix = {"parity": parity, "parity_rows": min(args.parity_examples, len(model.questions)),
               "timed": real_mix_batches(model, args.examples, args.batch_size)}
    fixed = fixed_batches(model, args.batch_size, args.fixed_seq, args.fixed_batches)
    log.info("%s: CPU FP32 reference", model.label)
    reference = reference_logits(model, args, mix, fixed)

    runnable = [row for row in rows if status[row.backend] is None]
    if any(row.backend.startswith(("onnx", "tensorrt-")) for row in runnable):
        ensure_onnx(model, work)
    engine_failures = {}
    wanted_engines = [row.backend.removeprefix("tensorrt-") for row in runnable if row.backend.startswith("tensorrt-")]
    if wanted_engines and model.questions is not None and not budget.exhausted():
        engine_failures = build_engines(model, wanted_engines, work, args)

    for row in rows:
        if status[row.backend] is not None:
            row.status, row.reason = "not run", status[row.backend]
        elif row.backend.startswith("tensorrt-") and model.questions is None:
            row.status, row.reason = "not run", "no tokenizer for real questions (calibration and profile need them)"
        elif row.backend.removeprefix("tensorrt-") in engine_failures:
            row.status, row.reason = "failed", engine_failures[row.backend.removeprefix("tensorrt-")]
        elif budget.exhausted():
            row.status, row.reason = "skipped", f"time budget of {args.time_budget:.0f} s used up"
        else:
            log.info("%s / %s", model.label, row.backend)
            try:
                check_backend(row, model, args, mix, fixed, reference)
            except Exception as error:  # one backend's failure must not hide the others' results
                log.exception("%s failed", row.backend)
                row.status, row.reason = "failed", f"{type(error).__name__}: {error}"
            torch.cuda.empty_cache()
    return rows


# ---------------------------------------------------------------- output


def format_table(rows: list[Row], args) -> str:
    header = ("| model | backend | status | max abs dlogit | agreement | acc drop (pt) | real mix seq/s | "
              f"real mix batch p50 ms | b{args.batch_size} x s{args.fixed_seq} seq/s |")
    lines = [header, "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]

    def number(value, spec):
        return "" if value is None else format(value, spec)

    for row in rows:
        drop = row.parity.get("accuracy_drop")
        lines.append(
            f"| {row.model} | {row.backend} | {row.status} | {number(row.parity.get('max_abs_logit_diff'), '.2e')} | "
            f"{number(row.parity.get('argmax_agreement'), '.1%')} | {number(None if drop is None else drop * 100, '.2f')} | "
            f"{number(row.real_mix_seq_per_s, '.0f')} | {number(row.real_mix_batch_ms_p50, '.1f')} | {number(row.fixed_seq_per_s, '.0f')} |"
        )
    reasons = [f"- {row.model} / {row.backend}: {row.status}: {row.reason}" for row in rows if row.reason]
    return "\n".join(lines + ([""] + ["Not run or failed:"] + reasons if reasons else []))


def write_outputs(args, info: dict, rows: list[Row], notes: list[str], elapsed: float) -> None:
    result = {"machine": info, "arguments": {k: v for k, v in vars(args).items()}, "notes": notes,
              "elapsed_s": round(elapsed, 1), "results": [row.to_dict() for row in rows]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    table = format_table(rows, args)
    gpu = info.get("gpu") or "no GPU"
    heading = (f"GPU check on {gpu} (torch {info.get('torch')}, CUDA {info.get('torch_cuda')}, onnxruntime "
               f"{info.get('onnxruntime')}, TensorRT {info.get('tensorrt') or 'not installed'}), {elapsed:.0f} s:")
    print(heading)
    print(table)
    for note in notes:
        print(f"note: {note}")
    if args.markdown:
        body = "\n".join([heading, "", table, "", *[f"- {note}" for note in notes], ""])
        Path(args.markdown).write_text(body, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    budget = Budget(args.time_budget)
    missing = missing_packages()
    if missing:
        print(f"missing Python packages: {', '.join(missing)}. Install them (offline: pip install --no-index "
              f"--find-links WHEEL_DIR {' '.join(missing)}) and rerun.", file=sys.stderr)
        return 2
    import_sotriage()

    info = machine_info()
    notes: list[str] = []
    if args.cpu_self_test:
        args.backends = list(CPU_SELF_TEST_BACKENDS)
        status = {name: None for name in args.backends}
        notes.append("CPU self-test: CPU backends, not a GPU measurement")
    else:
        status = discover(args.backends)
        if args.dry_run or not info["cuda_available"]:
            return dry_run(args, info, status, notes, budget)

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="sotriage-gpu-check-") as tmp:
        work = Path(tmp)
        trained = None
        try:
            trained = trained_model(args)
            notes.append(f"{trained.label}: {trained.note}")
        except Exception as error:  # e.g. the shipped model's base weights are not installed
            log.exception("trained classifier failed to load")
            notes.append(f"trained classifier not checked: {type(error).__name__}: {error}")
        models = [trained] if trained is not None else []
        if not args.no_bert_base:
            bert = bert_base_model(work, trained, args)
            notes.append(f"{bert.label}: {bert.note}")
            models.append(bert)
        for model in models:
            rows.extend(check_model(model, args, status, budget, work))
    write_outputs(args, info, rows, notes, budget.elapsed())
    return 1 if any(row.status == "failed" for row in rows) else 0


def dry_run(args, info: dict, status: dict, notes: list[str], budget: Budget) -> int:
    """Report discovery and the questions' length mix without touching a GPU."""
    rows = [Row("(discovery)", name, "would run" if reason is None else "not run", reason) for name, reason in status.items()]
    try:
        model = trained_model(args)
        lengths = sorted(len(item) for item in model.encoder.encode(model.questions.questions[: args.examples]))
        from sotriage.export.tensorrt import profile_shapes

        profile = profile_shapes(lengths, model.encoder.config.max_length, args.batch_size)
        notes.append(f"{model.label}: {len(lengths)} questions ({model.note}), token length p50 {lengths[len(lengths) // 2]}, "
                     f"max {lengths[-1]}; TensorRT profile {profile.to_dict()}")
    except Exception as error:  # the dry run reports what a real run would hit
        notes.append(f"trained classifier not loadable: {type(error).__name__}: {error}")
    if not info["cuda_available"]:
        from sotriage.runtime.gpu import no_cuda_reason

        notes.insert(0, no_cuda_reason() or "no CUDA device")
        print(no_cuda_reason(), file=sys.stderr)
    write_outputs(args, info, rows, notes, budget.elapsed())
    return 0 if args.dry_run else 1


if __name__ == "__main__":
    sys.exit(main())
