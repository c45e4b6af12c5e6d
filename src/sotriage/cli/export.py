"""`sotriage export`: ONNX FP32, fused, INT8, each checked against PyTorch."""

from __future__ import annotations

import click

from ..card import write_model_card
from ..export.pipeline import ExportConfig, export_model
from ..run_dir import RunDir
from ..runtime.model_ref import resolve_model
from .common import handle_errors
from .tensorrt_options import check_tensorrt_machine, run_tensorrt_step, tensorrt_options
from .triton_repo_options import triton_onnx_ready, triton_repo_options, write_triton_repo_step


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--parity-examples", type=int, default=256, show_default=True, help="Validation questions for the parity checks.")
@click.option("--fp32-tolerance", type=float, default=1e-3, show_default=True, help="Max |logit difference| allowed for FP32 ONNX vs PyTorch.")
@click.option("--int8-min-agreement", type=float, default=0.95, show_default=True,
              help="Min share of questions where INT8 (and OpenVINO at bf16) and PyTorch FP32 predict the same label.")
@click.option("--per-tensor", is_flag=True, help="Per-tensor INT8 weight scales instead of per-channel (less accurate, same speed).")
@click.option("--static-int8", is_flag=True, help="Also build onnx/model-int8-static.onnx (ONNX Runtime static INT8, calibrated on the run's training questions).")
@click.option("--static-calibration-questions", type=int, default=256, show_default=True,
              help="Training questions that calibrate --static-int8.")
@click.option("--static-calibration-method", type=click.Choice(["minmax", "entropy", "percentile"]), default="minmax",
              show_default=True, help="How --static-int8 derives activation ranges from its calibration questions.")
@click.option("--openvino-int8", is_flag=True,
              help="Also build onnx/model-int8-qdq.onnx for the openvino-int8 backend (Q/DQ INT8 calibrated on "
                   "--static-calibration-questions training questions; needs the openvino extra).")
@click.option("--openvino-calibration", type=click.Choice(["minmax", "entropy", "percentile"]), default="percentile",
              show_default=True, help="How --openvino-int8 derives activation ranges from its calibration questions.")
@click.option("--int8-max-drop", type=float, default=0.3, show_default=True,
              help="INT8 accuracy gate: max accuracy points each INT8 file may lose against FP32 on validation questions; "
                   "node groups that cost accuracy stay FP32 until it holds.")
@click.option("--gate-questions", type=int, default=512, show_default=True, help="Validation questions the INT8 accuracy gate measures.")
@click.option("--no-int8-gate", is_flag=True, help="Skip the INT8 accuracy gate (it runs by default when the run has validation data).")
@click.option("--int8-sensitivity", is_flag=True,
              help="Measure every node group's INT8 sensitivity into onnx/quantization.json even when the gate passes at once.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Threads for the parity runs (default: all cores).")
@tensorrt_options
@triton_repo_options
@handle_errors
def export(run_dir, parity_examples, fp32_tolerance, int8_min_agreement, per_tensor, static_int8, static_calibration_questions,
           static_calibration_method, openvino_int8, openvino_calibration, int8_max_drop, gate_questions, no_int8_gate, int8_sensitivity, threads,
           triton_repo, triton_precision, triton_instances, triton_kind, **tensorrt) -> None:
    """Export RUN_DIR/model to ONNX (FP32, fused, INT8) in RUN_DIR/onnx and check parity.

    \b
    Example:
      sotriage export runs/minilm-lora
      sotriage export runs/minilm-lora --static-int8 --int8-max-drop 0.5
      sotriage export runs/minilm-lora --openvino-int8   # fastest CPU backend: openvino-int8
      sotriage export runs/minilm-lora --tensorrt fp16 --tensorrt int8   # on a CUDA GPU with TensorRT
      sotriage export runs/minilm-lora --triton-repo triton-models --triton-instances 2
    """
    run = RunDir(run_dir)
    run.require("model")
    triton = (triton_repo, triton_precision, triton_instances, triton_kind)
    if triton_onnx_ready(run, *triton):
        write_triton_repo_step(run, *triton)
        return
    check_tensorrt_machine(tensorrt)
    resolved = resolve_model(run.root)
    config = ExportConfig(parity_examples=parity_examples, fp32_tolerance=fp32_tolerance,
                          int8_min_agreement=int8_min_agreement, per_channel=not per_tensor, threads=threads,
                          static_int8=static_int8, calibration_questions=static_calibration_questions,
                          calibration_method=static_calibration_method, int8_max_drop=int8_max_drop,
                          gate_questions=gate_questions, int8_gate=not no_int8_gate, int8_sensitivity=int8_sensitivity,
                          openvino_int8=openvino_int8, openvino_int8_calibration=openvino_calibration)
    report = export_model(resolved.files.model_dir, run.onnx_dir, run, config)
    write_model_card(run.root)
    click.echo(f"fused operators: {report['fusions']}")
    click.echo(f"{'file':<16} {'max|dlogit|':>12} {'agreement':>10} {'acc drop':>9} {'MB':>7}")
    for name, entry in report["files"].items():
        click.echo(f"{name:<16} {entry['max_abs_logit_diff']:>12.2e} {entry['argmax_agreement']:>10.1%} "
                   f"{entry['accuracy_drop'] * 100:>8.2f}pt {entry['size_mb']:>7.1f}")
    for name, gate in report.get("int8_gate", {}).items():
        fp32_groups = ", ".join(gate["excluded_groups"]) or "none"
        click.echo(f"INT8 gate {name}: accuracy {-gate['accuracy_drop_points']:+.2f} points against FP32 on validation; "
                   f"node groups left in FP32: {fp32_groups}")
    click.echo(f"wrote {run.onnx_dir}   next: sotriage evaluate {run_dir} --backend onnx-int8")
    run_tensorrt_step(run, gate_questions, int8_min_agreement, int8_max_drop, threads, tensorrt)
    write_triton_repo_step(run, *triton)
