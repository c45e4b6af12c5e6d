"""`sotriage evaluate`: metrics of one backend on the test split or any labelled file."""

from __future__ import annotations

import json

import click

from ..card import write_model_card
from ..evaluation.evaluate import evaluate_backend, evaluation_questions
from ..io import write_json
from ..runtime.classifier import Classifier
from ..runtime.model_ref import resolve_model
from .common import handle_errors

BACKEND_HELP = ("torch (PyTorch FP32), onnx (ONNX Runtime FP32, fused), onnx-int8 (INT8 dynamic), onnx-int8-static, "
                "openvino, openvino-int8 (OpenVINO on the Q/DQ INT8 graph).")


@click.command()
@click.argument("model", required=False, type=click.Path(file_okay=False))
@click.option("--data", default=None, help="A prepared dataset folder or a Kaggle-schema CSV. Default: the run's test split.")
@click.option("--split", default="test", type=click.Choice(["train", "validation", "test"]), show_default=True,
              help="Split of a prepared dataset to use.")
@click.option("--backend", default="onnx-int8", show_default=True, help=BACKEND_HELP)
@click.option("--max-examples", type=click.IntRange(min=1), default=None, help="Use only the first N questions.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Inference threads (default: all cores).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@handle_errors
def evaluate(model, data, split, backend, max_examples, threads, as_json) -> None:
    """Evaluate MODEL (a run folder, a merged model folder or shipped:reasons; default: the shipped binary model).

    \b
    Example:
      sotriage evaluate runs/minilm-lora --backend onnx-int8 --json
    """
    resolved = resolve_model(model)
    questions, source = evaluation_questions(resolved, data, split, max_examples)
    classifier = Classifier.from_resolved(resolved, backend=backend, threads=threads)
    metrics, _ = evaluate_backend(classifier, questions)
    result = {"backend": backend, "model": str(resolved.files.model_dir), "data": source, **metrics}
    if resolved.run_dir is not None and data is None:
        write_json(resolved.run_dir / "metrics" / f"eval-{backend}-{split}.json", result)
        write_model_card(resolved.run_dir)

    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"model    {result['model']}\ndata     {source}\nbackend  {backend}")
    click.echo(f"n {result['n']}  accuracy {result['accuracy']:.4f}  macro-F1 {result['macro_f1']:.4f}  "
               f"log loss {result['log_loss']:.4f}  ROC-AUC {result['roc_auc'] if result['roc_auc'] is None else round(result['roc_auc'], 4)}")
    names = result["label_names"]
    width = max(len(n) for n in names) + 2
    click.echo("confusion matrix (rows: true, columns: predicted)")
    click.echo(" " * width + "".join(f"{n[:10]:>12}" for n in names))
    for name, row in zip(names, result["confusion_matrix"]):
        click.echo(f"{name:<{width}}" + "".join(f"{v:>12}" for v in row))
