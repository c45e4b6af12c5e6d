"""Time INT8 dynamic, INT8 static and OpenVINO on a run's test questions in length-sorted batches.

Each backend runs the same pre-tokenized, length-sorted batches, padded to each batch's longest
question. It runs one untimed pass, which also gives the accuracy, and then `--passes` timed
passes; the table shows the median sequences per second. Tokenization is not timed.
`sotriage bench` is the full benchmark; this script only compares the quantized variants that
docs/performance.md discusses.

    python scripts/quantization_speed.py runs/minilm-lora-r8 --n 1024 --threads 2 --passes 3
    python scripts/quantization_speed.py runs/minilm-lora-r8 --n 0 --passes 0 --file int8-ungated=/tmp/model-int8.onnx
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

from sotriage.encoding import length_sorted_batches, pad_batch
from sotriage.export.static_quant import run_split, sample_questions
from sotriage.run_dir import RunDir
from sotriage.runtime.base import create_backend
from sotriage.runtime.classifier import Classifier
from sotriage.runtime.model_ref import resolve_model
from sotriage.runtime.onnx_backend import OnnxBackend


def openvino_variants(files, threads):
    from sotriage.runtime.openvino_backend import OpenVinoBackend

    for graph, path in (("unfused", files.onnx_unfused), ("fused", files.onnx_fp32)):
        for precision in ("bf16", "f32"):
            yield f"openvino {graph} {precision}", lambda p=path, q=precision: OpenVinoBackend(p, threads, precision=q)


def time_backend(backend, batches, passes: int) -> tuple[float | None, np.ndarray]:
    """Return the median seconds of `passes` timed passes after one untimed pass (None without
    timed passes), and the logits of the untimed pass."""
    outputs = [backend(batch) for batch in batches]
    seconds = []
    for _ in range(passes):
        start = time.perf_counter()
        for batch in batches:
            backend(batch)
        seconds.append(time.perf_counter() - start)
    return (statistics.median(seconds) if seconds else None), np.concatenate(outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run folder with model/ and onnx/ (exported with --static-int8)")
    parser.add_argument("--n", type=int, default=1024, help="test questions (seeded random sample); 0 for all")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--passes", type=int, default=3, help="timed passes; 0 measures accuracy only")
    parser.add_argument("--backends", default="onnx,onnx-int8,onnx-int8-static,openvino",
                        help="comma-separated registered backends; 'openvino-variants' adds the four OpenVINO graph/precision pairs")
    parser.add_argument("--file", action="append", default=[], metavar="NAME=PATH",
                        help="also run this ONNX file with ONNX Runtime (repeatable)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args()

    run = RunDir(args.run)
    resolved = resolve_model(str(run.root))
    encoder = Classifier.load(str(run.root), backend="onnx", threads=1).encoder
    test = run_split(run, "test")
    questions = sample_questions(test, args.n or len(test), seed=0)
    encoded = encoder.encode(questions.questions)
    order = length_sorted_batches([len(item) for item in encoded], args.batch_size)
    batches = [pad_batch([encoded[i] for i in index], encoder.pad_id) for index in order]
    labels = np.asarray(questions.labels)[np.concatenate(order)]

    factories = []
    for name in args.backends.split(","):
        if name == "openvino-variants":
            factories.extend(openvino_variants(resolved.files, args.threads))
        else:
            factories.append((name, lambda n=name: create_backend(n, resolved.files, args.threads)))
    for spec in args.file:
        name, _, path = spec.partition("=")
        factories.append((name, lambda p=path, n=name: OnnxBackend(p, args.threads, name=n)))

    results = {}
    print(f"{len(encoded)} test questions, mean {np.mean([len(e) for e in encoded]):.0f} tokens, "
          f"{len(batches)} batches of {args.batch_size}, {args.threads} threads, load average {os.getloadavg()[0]:.1f}")
    print("| backend | sequences/s | accuracy on these questions |")
    print("| --- | --- | --- |")
    for name, factory in factories:
        backend = factory()
        seconds, logits = time_backend(backend, batches, args.passes)
        backend.close()
        speed = len(encoded) / seconds if seconds else None
        results[name] = {"sequences_per_s": speed, "accuracy": float((logits.argmax(1) == labels).mean())}
        print(f"| {name} | {'-' if speed is None else f'{speed:.1f}'} | {results[name]['accuracy']:.4f} |", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"settings": vars(args), "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
