#!/usr/bin/env python
"""Compare INT8 calibration methods for the TensorRT Q/DQ model, on the CPU with ONNX Runtime.

For each method the script builds the Q/DQ model of RUN/onnx/model.onnx (the same placement
policy as `sotriage export RUN --tensorrt int8`), calibrated on a seeded sample of real training
questions, runs it in ONNX Runtime on the CPU and compares its logits with the FP32 model on
validation questions: max and mean |logit difference|, the error of the logit margin (closed minus
open) relative to its spread, argmax agreement and the accuracy drop.

ONNX Runtime's CPU INT8 kernels are not TensorRT's, so this ranks the calibration ranges, not the
engine's exact accuracy.

Example:
    python scripts/compare_calibration.py runs/minilm-lora --examples 500 --threads 2
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

from sotriage.export.pipeline import parity_questions
from sotriage.export.qdq import CALIBRATION_METHODS, QdqConfig, QuestionCalibrationReader, quantize_qdq
from sotriage.export.tensorrt_pipeline import calibration_questions
from sotriage.run_dir import RunDir
from sotriage.runtime.classifier import Classifier
from sotriage.runtime.gpu import parity_report
from sotriage.runtime.model_ref import resolve_model
from sotriage.runtime.onnx_backend import OnnxBackend


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="Run folder with model/ and onnx/model.onnx (from sotriage export).")
    parser.add_argument("--methods", default=",".join(CALIBRATION_METHODS), help="Comma-separated calibration methods.")
    parser.add_argument("--calibration-examples", type=int, default=256, help="Training questions to calibrate on.")
    parser.add_argument("--examples", type=int, default=500, help="Validation questions to compare on.")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads.")
    parser.add_argument("--work-dir", default=None, help="Folder to keep the Q/DQ models in (default: a temporary folder).")
    parser.add_argument("--out", default=None, help="JSON file for the results.")
    args = parser.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in args.methods if m not in CALIBRATION_METHODS]
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}: use any of {', '.join(CALIBRATION_METHODS)}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    run = RunDir(args.run_dir)
    resolved = resolve_model(run.root)
    onnx_path = resolved.files.require(resolved.files.onnx_unfused, f"Create it with: sotriage export {run.root}")
    fp32 = Classifier.from_resolved(resolved, backend="onnx", threads=args.threads)
    encoder = fp32.encoder
    fp32.backend.close()
    fp32.backend = OnnxBackend(onnx_path, args.threads, name="onnx-unfused")  # the graph the Q/DQ model comes from

    validation = parity_questions(run, args.examples)
    encoded = encoder.encode(validation.questions)
    labels = np.asarray(validation.labels)
    reference = fp32.logits_for_encoded(encoded)
    calibration = encoder.encode(calibration_questions(run, args.calibration_examples))

    input_names = [value.name for value in onnx.load(str(onnx_path), load_external_data=False).graph.input]
    with tempfile.TemporaryDirectory(prefix="sotriage-calibration-") as tmp:
        work = Path(args.work_dir) if args.work_dir else Path(tmp)
        results = {method: compare_method(method, onnx_path, work, calibration, input_names, encoder, encoded,
                                          reference, labels, resolved.label_names, args.threads)
                   for method in args.methods}

    summary = {"run": str(run.root), "examples": len(encoded), "calibration_examples": len(calibration),
               "reference_predicted_share": np.bincount(reference.argmax(1), minlength=reference.shape[1]).tolist(),
               "methods": results}
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 0


def compare_method(method, onnx_path, work, calibration, input_names, encoder, encoded, reference, labels, label_names, threads) -> dict:
    """Quantize with one calibration method and compare the Q/DQ model's logits with FP32."""
    started = time.perf_counter()
    reader = QuestionCalibrationReader(calibration, encoder.pad_id, 8, input_names)
    path = work / f"model-qdq-{method}.onnx"
    quantize_qdq(onnx_path, path, reader, QdqConfig(calibration=method))
    seconds = time.perf_counter() - started
    logits = Classifier(encoder, OnnxBackend(path, threads, name=f"qdq-{method}"), label_names).logits_for_encoded(encoded)
    entry = parity_report(reference, logits, labels)
    entry["mean_abs_logit_diff"] = float(np.abs(reference - logits).mean())
    if reference.shape[1] == 2:
        # Error of the decision margin relative to its spread across questions: meaningful even when
        # a weak model predicts one class for every question and agreement is trivially 100%.
        margin = reference[:, 1] - reference[:, 0]
        error = np.abs((logits[:, 1] - logits[:, 0]) - margin)
        entry["margin_error_over_std"] = float(error.mean() / margin.std()) if margin.std() > 0 else None
    entry["calibration_s"] = round(seconds, 1)
    print(method, json.dumps(entry), flush=True)
    return entry


if __name__ == "__main__":
    sys.exit(main())
