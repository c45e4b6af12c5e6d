"""`sotriage train`: fine-tune with LoRA (or fully), keep the best checkpoint, merge."""

from __future__ import annotations

import json

import click

from ..encoding import EncodingConfig
from ..training.config import TARGET_PRESETS, TrainConfig
from .common import handle_errors


@click.command()
@click.argument("data_dir", type=click.Path(file_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run folder to write, e.g. runs/minilm-lora.")
@click.option("--model", default=None, help="Base model: a local Hugging Face folder or a hub name. Default: the bundled all-MiniLM-L6-v2.")
@click.option("--full", is_flag=True, help="Fine-tune every weight instead of LoRA.")
@click.option("--rank", "lora_rank", type=int, default=8, show_default=True, help="LoRA rank r.")
@click.option("--alpha", "lora_alpha", type=float, default=16.0, show_default=True, help="LoRA alpha (scale = alpha / r).")
@click.option("--lora-dropout", type=float, default=0.1, show_default=True, help="Dropout on the LoRA input.")
@click.option("--targets", "target_modules", default="all-linear", show_default=True,
              help=f"LoRA target modules: {', '.join(TARGET_PRESETS)}, or comma-separated module names.")
@click.option("--last-layers", type=int, default=None, help="Apply LoRA only to the last N encoder layers (default: all).")
@click.option("--epochs", type=float, default=2.0, show_default=True, help="Passes over the training split (fractions allowed).")
@click.option("--batch-size", type=int, default=16, show_default=True, help="Questions per optimizer step.")
@click.option("--lr", "learning_rate", type=float, default=None, help="Peak learning rate. Default: 5e-4 with LoRA, 5e-5 with --full.")
@click.option("--weight-decay", type=float, default=0.01, show_default=True, help="AdamW weight decay.")
@click.option("--warmup", "warmup_ratio", type=float, default=0.06, show_default=True, help="Share of steps with linear warmup.")
@click.option("--eval-every", type=int, default=None, help="Evaluate every N steps (default: once per epoch).")
@click.option("--eval-max-examples", type=int, default=None, help="Validation questions used during training (default: all).")
@click.option("--patience", type=int, default=None, help="Stop after N evaluations without a lower validation loss.")
@click.option("--max-examples", type=click.IntRange(min=1), default=None, help="Train on only the first N training questions (quick runs).")
@click.option("--max-length", type=int, default=256, show_default=True, help="Max tokens per question, [CLS] and [SEP] included.")
@click.option("--truncation", type=click.Choice(["head", "head_tail"]), default="head_tail", show_default=True,
              help="How a long body is cut: keep its start, or its start and its last --tail-tokens tokens.")
@click.option("--tail-tokens", type=int, default=64, show_default=True, help="Body tokens kept from the end with head_tail.")
@click.option("--seed", type=int, default=42, show_default=True, help="Seed for initialization and batch order.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Torch threads (default: physical cores).")
@click.option("--precision", type=click.Choice(["auto", "bf16", "fp32"]), default="auto", show_default=True,
              help="Training compute: bf16 autocast with FP32 weights, or fp32. auto picks bf16 where the CPU supports it natively.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run from RUN_DIR/checkpoints/last.pt.")
@click.option("--finalize", is_flag=True,
              help="Do not continue an interrupted run: merge its best checkpoint so far and save the model.")
@handle_errors
def train(data_dir, out, resume, finalize, max_length, truncation, tail_tokens, **options) -> None:
    """Fine-tune a classifier on DATA_DIR (from `sotriage data prepare`) into the run folder --out.

    \b
    Example (LoRA rank 8 on the bundled MiniLM, 2 epochs):
      sotriage train data/so --out runs/minilm-lora --rank 8 --epochs 2
    """
    from ..training.trainer import train as run_training

    encoding = EncodingConfig(max_length=max_length, truncation=truncation, tail_tokens=tail_tokens)
    config = TrainConfig(data_dir=data_dir, out=out, encoding=encoding, **options)
    if resume and finalize:
        raise click.UsageError("use either --resume (continue training) or --finalize (stop and merge), not both")
    summary = run_training(config, resume=resume, finalize=finalize)
    click.echo(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=2))
    click.echo(f"merged model: {out}/model   next: sotriage export {out}")
