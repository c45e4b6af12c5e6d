"""The demo pipeline: prepare, train, export, evaluate every backend, print one table."""

from __future__ import annotations

import logging
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .data.prepare import PrepareConfig, prepare_dataset
from .demo_data import sample_path
from .encoding import EncodingConfig
from .evaluation.evaluate import evaluate_backend, evaluation_questions
from .evaluation.metrics import agreement
from .export.pipeline import ExportConfig, export_model
from .io import write_json
from .run_dir import RunDir
from .runtime.classifier import Classifier
from .runtime.model_ref import resolve_model
from .training.config import TrainConfig
from .training.trainer import train

log = logging.getLogger(__name__)
DEMO_BACKENDS = ("torch", "onnx", "onnx-int8")


def run_demo(out: str | Path, epochs: float = 3.0, threads: int | None = None, console: Console | None = None,
             data: str | None = None) -> dict:
    console = console or Console()
    out = Path(out)
    run = RunDir(out)

    console.rule("1/4 data prepare: bundled sample")
    dataset = prepare_dataset(PrepareConfig(source=str(sample_path()), out=str(out / "data"), labels="binary"))
    console.print({name: sum(c.values()) for name, c in dataset.info["counts"].items()})

    console.rule("2/4 train: LoRA rank 8 on the bundled all-MiniLM-L6-v2")
    summary = train(TrainConfig(data_dir=str(out / "data"), out=str(out), epochs=epochs, batch_size=16,
                                learning_rate=1e-3, threads=threads, encoding=EncodingConfig(max_length=128)))
    console.print(f"best validation loss {summary['best_val_loss']:.4f} at step {summary['best_step']}, "
                  f"{summary['examples_per_s']:.1f} training examples/s")

    console.rule("3/4 export: ONNX FP32, fused, INT8")
    report = export_model(run.model, run.onnx_dir, run, ExportConfig(threads=threads))
    console.print(f"fused operators: {report['fusions']}")

    console.rule("4/4 evaluate every backend on the test split")
    resolved = resolve_model(out)
    questions, _ = evaluation_questions(resolved, None)
    results, reference = {}, None
    for backend in DEMO_BACKENDS:
        classifier = Classifier.from_resolved(resolved, backend=backend, threads=threads)
        classifier.logits(questions.questions[:8])  # warm-up: first calls allocate
        metrics, logits = evaluate_backend(classifier, questions)
        reference = logits if reference is None else reference
        metrics.update(agreement(reference, logits))
        results[backend] = metrics
        write_json(run.metrics / f"eval-{backend}-test.json", {"backend": backend, **metrics})

    console.print(demo_table(results, "sotriage demo: LoRA trained on the bundled synthetic sample, its test split"))

    shipped = shipped_model_results(questions, data, threads, console)
    if shipped:
        console.print(demo_table(shipped["results"], f"the shipped classifier on {shipped['source']}"))
    console.print(f"run folder: {out}   try: sotriage predict {out} --title 'How do I reverse a list in Python?' --tags python")
    return {"demo": results, "shipped": shipped}


def shipped_model_results(sample_test, data: str | None, threads: int | None, console: Console) -> dict | None:
    """Evaluate and time the shipped classifier with PyTorch FP32 and ONNX Runtime INT8."""
    from .errors import MissingArtifactError
    from .data.dataset import LabelledQuestions

    try:
        resolved = resolve_model(None)
    except MissingArtifactError as error:
        console.print(f"[yellow]skipping the shipped classifier: {error}[/yellow]")
        return None
    console.rule("the shipped classifier (LoRA on real Stack Overflow questions)")
    if data:
        from .data.kaggle import read_kaggle_csv
        from .data.schema import label_of

        questions = [q for q, _ in zip(read_kaggle_csv(data), range(500))]
        source = f"the first {len(questions)} questions of {data}"
        labels = [resolved.label_names.index(label_of(q.status, "binary")) for q in questions]
        test = LabelledQuestions(questions, labels)
    else:
        test, source = sample_test, "the bundled synthetic sample's test split (not real questions)"
    results, reference = {}, None
    for backend in ("torch", "onnx-int8"):
        classifier = Classifier.from_resolved(resolved, backend=backend, threads=threads)
        classifier.logits(test.questions[:8])  # warm-up
        metrics, logits = evaluate_backend(classifier, test)
        reference = logits if reference is None else reference
        metrics.update(agreement(reference, logits))
        results[backend] = metrics
    return {"source": source, "results": results}


def demo_table(results: dict[str, dict], title: str) -> Table:
    table = Table(title=title)
    for column in ("backend", "accuracy", "agreement with FP32", "questions/s", "speedup over torch FP32"):
        table.add_column(column, justify="right" if column != "backend" else "left")
    torch_speed = results["torch"]["questions_per_s"]
    for backend, metrics in results.items():
        table.add_row(backend, f"{metrics['accuracy']:.3f}", f"{metrics['argmax_agreement']:.1%}",
                      f"{metrics['questions_per_s']:.1f}", f"{metrics['questions_per_s'] / torch_speed:.2f}x")
    return table
