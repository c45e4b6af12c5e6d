"""`sotriage export`: ONNX FP32, fused, INT8, each checked against PyTorch."""

from __future__ import annotations

import click

from ..export.pipeline import ExportConfig, export_model
from ..run_dir import RunDir
from ..runtime.model_ref import resolve_model
from .common import handle_errors


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--parity-examples", type=int, default=256, show_default=True, help="Validation questions for the parity checks.")
@click.option("--fp32-tolerance", type=float, default=1e-3, show_default=True, help="Max |logit difference| allowed for FP32 ONNX vs PyTorch.")
@click.option("--int8-min-agreement", type=float, default=0.95, show_default=True, help="Min share of questions where INT8 and FP32 predict the same label.")
@click.option("--per-tensor", is_flag=True, help="Per-tensor INT8 weight scales instead of per-channel (less accurate, same speed).")
@click.option("--threads", type=int, default=None, help="Threads for the parity runs (default: all cores).")
@handle_errors
def export(run_dir, parity_examples, fp32_tolerance, int8_min_agreement, per_tensor, threads) -> None:
    """Export RUN_DIR/model to ONNX (FP32, fused, INT8) in RUN_DIR/onnx and check parity.

    \b
    Example:
      sotriage export runs/minilm-lora
    """
    run = RunDir(run_dir)
    run.require("model")
    resolved = resolve_model(run.root)
    config = ExportConfig(parity_examples=parity_examples, fp32_tolerance=fp32_tolerance,
                          int8_min_agreement=int8_min_agreement, per_channel=not per_tensor, threads=threads)
    report = export_model(resolved.files.model_dir, run.onnx_dir, run, config)
    click.echo(f"fused operators: {report['fusions']}")
    click.echo(f"{'file':<14} {'max|dlogit|':>12} {'agreement':>10} {'acc drop':>9} {'MB':>7}")
    for name, entry in report["files"].items():
        click.echo(f"{name:<14} {entry['max_abs_logit_diff']:>12.2e} {entry['argmax_agreement']:>10.1%} "
                   f"{entry['accuracy_drop'] * 100:>8.2f}pt {entry['size_mb']:>7.1f}")
    click.echo(f"wrote {run.onnx_dir}   next: sotriage evaluate {run_dir} --backend onnx-int8")
