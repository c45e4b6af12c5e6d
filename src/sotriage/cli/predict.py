"""`sotriage predict`: label and probabilities for one question or JSON lines on stdin."""

from __future__ import annotations

import json
import sys

import click

from ..data.schema import Question
from ..data.text import clean_markdown
from ..errors import InputError
from ..runtime.classifier import Classifier
from .common import handle_errors


def question_from_json(line: str, line_number: int, clean: bool = True) -> Question:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise InputError(f"stdin line {line_number}: invalid JSON ({error.msg}). Send one object per line, "
                         'e.g. {"title": "...", "body": "...", "tags": ["python"]}') from None
    if not isinstance(record, dict) or not isinstance(record.get("title", ""), str) or not isinstance(record.get("body", ""), str):
        raise InputError(f"stdin line {line_number}: expected an object with string fields title and body")
    if not record.get("title") and not record.get("body"):
        raise InputError(f"stdin line {line_number}: both title and body are missing or empty")
    tags = record.get("tags") or []
    if isinstance(tags, str):
        tags = tags.split()
    return Question(id=str(record.get("id", line_number)), title=record.get("title", ""),
                    body=clean_markdown(record.get("body", "")) if clean else record.get("body", ""), tags=list(tags),
                    reputation=record.get("reputation"), answer_count=record.get("answer_count"),
                    account_age_days=record.get("account_age_days"))


@click.command()
@click.argument("model", required=False, type=click.Path(file_okay=False))
@click.option("--title", default=None, help="Question title.")
@click.option("--body", default="", help="Question body in Stack Overflow Markdown.")
@click.option("--tags", default="", help="Space- or comma-separated tags, e.g. 'python pandas'.")
@click.option("--backend", default="onnx-int8", show_default=True, help="torch, onnx, onnx-int8, onnx-int8-static, openvino or openvino-int8 (fastest on CPUs with INT8 VNNI).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Inference threads (default: all cores).")
@click.option("--url", default=None, help="Ask a running Triton server (sotriage serve, or the --triton-repo ensemble) at host:port instead of loading MODEL.")
@click.option("--protocol", type=click.Choice(["http", "grpc"]), default="http", show_default=True, help="KServe v2 protocol for --url (gRPC is on port 8001 by default).")
@click.option("--model-name", default="sotriage", show_default=True, help="Model name on the server, with --url.")
@handle_errors
def predict(model, title, body, tags, backend, threads, url, protocol, model_name) -> None:
    """Predict for one question (--title/--body/--tags) or JSON lines on stdin.

    MODEL is a run folder, a merged model folder or shipped:reasons (default: the shipped binary model).

    \b
    Examples:
      sotriage predict runs/minilm-lora --title "How do I parse JSON in Python?" --tags python
      sotriage predict shipped:reasons --title "Which IDE is best?" --body "Opinions?"   # close reason
      echo '{"title": "Best IDE?", "body": "Which one?"}' | sotriage predict runs/minilm-lora
      sotriage predict --url 127.0.0.1:8001 --protocol grpc --title "Best IDE?" --body "Which one?"
    """
    # A server (--url) cleans the Markdown body itself, so the client sends it as given.
    clean = url is None
    if title is None and not body and tags:
        raise click.UsageError("--tags needs a question: give --title and/or --body, or pipe JSON lines on stdin")
    if title is not None or body:
        title = title or ""
        questions = [Question(id="1", title=title, body=clean_markdown(body) if clean else body, tags=tags.replace(",", " ").split())]
    else:
        if sys.stdin.isatty():
            raise click.UsageError("give --title (and --body, --tags), or pipe JSON lines on stdin")
        questions = [question_from_json(line, n, clean) for n, line in enumerate(sys.stdin, start=1) if line.strip()]
        if not questions:
            raise InputError("stdin is empty: send one JSON object per line")
    if url:
        from ..serving.client import ClientConfig, TritonClassifierClient

        with TritonClassifierClient(ClientConfig(url=url, protocol=protocol, model_name=model_name)) as client:
            predictions = client.predict(questions)
    else:
        predictions = Classifier.load(model, backend=backend, threads=threads).predict(questions)
    for question, prediction in zip(questions, predictions):
        click.echo(json.dumps({"id": question.id, **prediction.to_dict()}))
