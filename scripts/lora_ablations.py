"""Train and evaluate LoRA and full fine-tuning variants on the same data, and tabulate them.

Each variant is one `sotriage train` run into OUT/<variant> on the first --train-examples training
questions, followed by `sotriage evaluate --backend torch` on the first --test-examples test
questions. A variant whose metrics already exist is not run again, so an interrupted sweep
continues where it stopped. The table (OUT/ablations.md, OUT/ablations.json) has the columns of
docs/results.md: trainable parameters, their share, train time per epoch, examples/s, best epoch,
test loss, accuracy and macro-F1.

    python scripts/lora_ablations.py data/so-binary --out runs/ablations --train-examples 3000
    python scripts/lora_ablations.py data/so-binary --variants lora-r1,lora-r8,full
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path

log = logging.getLogger("lora_ablations")

# Variant name -> `sotriage train` flags beyond the shared ones. alpha = 2 x rank keeps the LoRA
# scale (alpha / r) at 2 for every rank, so rank is the only thing that changes.
VARIANTS = {
    "lora-r1": ["--rank", "1", "--alpha", "2"],
    "lora-r8": ["--rank", "8", "--alpha", "16"],
    "lora-r16": ["--rank", "16", "--alpha", "32"],
    "lora-r8-attention": ["--rank", "8", "--alpha", "16", "--targets", "attention"],
    "lora-r8-last2": ["--rank", "8", "--alpha", "16", "--last-layers", "2"],
    "lora-r8-lr1e-4": ["--rank", "8", "--alpha", "16", "--lr", "1e-4"],
    "lora-r8-lr2e-3": ["--rank", "8", "--alpha", "16", "--lr", "2e-3"],
    "full": ["--full"],
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="Prepared dataset folder (sotriage data prepare).")
    parser.add_argument("--out", type=Path, default=Path("runs/ablations"), help="Folder for one run per variant and the table.")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"Comma-separated subset of: {', '.join(VARIANTS)}.")
    parser.add_argument("--train-examples", type=int, default=3000, help="Training questions per variant (the first N).")
    parser.add_argument("--test-examples", type=int, default=2000, help="Test questions evaluated per variant (the first N).")
    parser.add_argument("--epochs", type=float, default=1.0, help="Epochs per variant.")
    parser.add_argument("--eval-every", type=int, default=60, help="Validation every N optimizer steps (early stopping picks the best).")
    parser.add_argument("--eval-max-examples", type=int, default=500, help="Validation questions per evaluation during training.")
    parser.add_argument("--sotriage", default=str(Path(sys.executable).with_name("sotriage")), help="The sotriage command to run.")
    args = parser.parse_args(argv)
    unknown = [name for name in args.variants.split(",") if name not in VARIANTS]
    if unknown:
        parser.error(f"invalid --variants {', '.join(unknown)}: use any of {', '.join(VARIANTS)}")
    if not (args.data / "dataset.json").is_file():
        parser.error(f"{args.data} is not a prepared dataset (no dataset.json): run `sotriage data prepare` first")
    return args


def run_variant(name: str, args: argparse.Namespace) -> dict:
    """Train and evaluate one variant unless its results exist; return its row."""
    run = args.out / name
    evaluation = run / "metrics" / "ablation-eval.json"
    if not (run / "metrics" / "train.json").is_file():
        command = [args.sotriage, "train", str(args.data), "--out", str(run), "--epochs", str(args.epochs),
                   "--max-examples", str(args.train_examples), "--eval-every", str(args.eval_every),
                   "--eval-max-examples", str(args.eval_max_examples), *VARIANTS[name]]
        log.info("training %s: %s", name, " ".join(command))
        subprocess.run(command, check=True)
    if not evaluation.is_file():
        command = [args.sotriage, "evaluate", str(run), "--backend", "torch", "--max-examples", str(args.test_examples), "--json"]
        log.info("evaluating %s", name)
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        evaluation.write_text(output)
    return table_row(name, run)


def table_row(name: str, run: Path) -> dict:
    config = json.loads((run / "config.json").read_text())
    train = json.loads((run / "metrics" / "train.json").read_text())
    evaluation = json.loads((run / "metrics" / "ablation-eval.json").read_text())
    epochs_run = train["examples_seen"] / config["max_examples"]  # below `epochs` when early stopping ended it
    return {
        "variant": name,
        "trainable_parameters": config["trainable_parameters"],
        "share_of_parameters": config["trainable_parameters"] / config["total_parameters"],
        "train_seconds_per_epoch": train["train_seconds"] / epochs_run,
        "examples_per_s": train["examples_per_s"],
        "best_epoch": train["best_epoch"],
        "test_questions": evaluation["n"],
        "test_loss": evaluation["log_loss"],
        "accuracy": evaluation["accuracy"],
        "macro_f1": evaluation["macro_f1"],
        "learning_rate": config["learning_rate_used"],
    }


def markdown(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [
        f"Variants trained on the first {args.train_examples} training questions of {args.data} for {args.epochs:g} epoch(s), "
        f"evaluated with PyTorch FP32 on the first {args.test_examples} test questions.",
        "",
        "| variant | trainable params | share | train s/epoch | examples/s | best epoch | test loss | accuracy | macro-F1 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(f"| {row['variant']} (lr {row['learning_rate']:g}) | {row['trainable_parameters']:,} | "
                     f"{row['share_of_parameters']:.2%} | {row['train_seconds_per_epoch']:.0f} | {row['examples_per_s']:.1f} | "
                     f"{row['best_epoch']:.2f} | {row['test_loss']:.4f} | {row['accuracy']:.2%} | {row['macro_f1']:.4f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = [run_variant(name, args) for name in args.variants.split(",")]
    (args.out / "ablations.json").write_text(json.dumps(rows, indent=2) + "\n")
    (args.out / "ablations.md").write_text(markdown(rows, args))
    print(markdown(rows, args))


if __name__ == "__main__":
    main()
