"""The `--tensorrt` options of `sotriage export` and the step that runs them after the ONNX export."""

from __future__ import annotations

import click

from ..export.qdq import CALIBRATION_METHODS, DEFAULT_CALIBRATION, OPTIONAL_PARTS

TENSORRT_OPTIONS = (
    click.option("--tensorrt", "tensorrt_precisions", type=click.Choice(["fp16", "int8"]), multiple=True,
                 help="Also build a TensorRT engine in RUN_DIR/tensorrt (repeat for both; needs a CUDA GPU and "
                      "pip install 'sotriage[gpu]'). int8 uses a Q/DQ model calibrated on training questions."),
    click.option("--trt-max-batch", type=int, default=64, show_default=True,
                 help="Max batch size of the TensorRT profile; larger batches are split at run time."),
    click.option("--trt-opt-percentile", type=float, default=75.0, show_default=True,
                 help="Percentile of the validation token lengths that sets the profile's optimal sequence length."),
    click.option("--trt-workspace-gib", type=float, default=4.0, show_default=True,
                 help="TensorRT builder workspace limit, in GiB."),
    click.option("--trt-fp16-min-agreement", type=float, default=0.99, show_default=True,
                 help="Min share of validation questions where the FP16 engine and PyTorch FP32 predict the same label."),
    click.option("--calibration", type=click.Choice(CALIBRATION_METHODS), default=DEFAULT_CALIBRATION, show_default=True,
                 help="INT8 calibration method for the Q/DQ model (ONNX Runtime's static quantizer)."),
    click.option("--calibration-examples", type=int, default=256, show_default=True,
                 help="Real training questions used to calibrate INT8."),
    click.option("--qdq-quantize", type=click.Choice(OPTIONAL_PARTS), multiple=True,
                 help="Also quantize this part (repeatable); by default only the encoder MatMuls are INT8."),
)


def tensorrt_options(command):
    for option in reversed(TENSORRT_OPTIONS):
        command = option(command)
    return command


def check_tensorrt_machine(options: dict) -> None:
    """Fail before the slow ONNX export when --tensorrt was given on a machine that cannot build."""
    if options["tensorrt_precisions"]:
        from ..export.tensorrt_pipeline import check_prerequisites

        check_prerequisites(options["tensorrt_precisions"])


def run_tensorrt_step(run, parity_examples: int, min_agreement: float, max_drop_points: float, threads: int | None,
                      options: dict) -> None:
    """Build, check and cache the requested engines, then print one line per engine.

    The engines pass the gate of the CPU INT8 files: `min_agreement` (argmax agreement with PyTorch
    FP32; the FP16 engine uses --trt-fp16-min-agreement) and `max_drop_points` accuracy points.
    """
    if not options["tensorrt_precisions"]:
        return
    from ..export.qdq import QdqConfig
    from ..export.tensorrt_pipeline import TensorRTExportConfig, build_tensorrt_engines
    from ..runtime.model_ref import resolve_model

    qdq = QdqConfig(calibration=options["calibration"], calibration_examples=options["calibration_examples"],
                    quantize=tuple(options["qdq_quantize"]), min_agreement=min_agreement)
    config = TensorRTExportConfig(
        precisions=tuple(dict.fromkeys(options["tensorrt_precisions"])), max_batch=options["trt_max_batch"],
        opt_percentile=options["trt_opt_percentile"], parity_examples=parity_examples,
        fp16_min_agreement=options["trt_fp16_min_agreement"], int8_min_agreement=min_agreement,
        max_drop_points=max_drop_points,
        workspace_gib=options["trt_workspace_gib"], threads=threads, qdq=qdq,
    )
    report = build_tensorrt_engines(resolve_model(run.root), run, config)
    click.echo(f"TensorRT profile (batch, seq): {report['profile']} from token lengths {report['token_lengths']}")
    for precision, entry in report["engines"].items():
        parity = entry["parity"]
        drop = parity.get("accuracy_drop")
        drop_text = f"{drop * 100:.2f}pt" if drop is not None else "n/a"
        click.echo(f"tensorrt-{precision:<5} max|dlogit| {parity['max_abs_logit_diff']:.2e}  agreement "
                   f"{parity['argmax_agreement']:.1%}  acc drop {drop_text}  -> {entry['plan']}")
