"""Memory of an OpenVINO CPU model as it meets many input shapes, with and without length padding.

OpenVINO's CPU plugin keeps compiled kernels for each input shape it runs. A server that sends
batches of any (rows, sequence length) keeps adding shapes; padding the sequence length to a
multiple of --pad-multiple bounds them. This feeds --batches random batches of 1-32 rows and
20-256 tokens to one ONNX file and prints the process RSS as it goes.

    python scripts/openvino_shape_memory.py ~/.cache/sotriage/shipped-<hash>/onnx/model-int8-qdq.onnx
    python scripts/openvino_shape_memory.py MODEL.onnx --pad-multiple 32
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import psutil

from sotriage.runtime.openvino_backend import OpenVinoBackend

REPORT_EVERY = 300


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="ONNX file, e.g. onnx/model-int8-qdq.onnx of a run or of the shipped model's cache.")
    parser.add_argument("--pad-multiple", type=int, default=1, help="Pad each batch's length up to a multiple of this (1: no padding).")
    parser.add_argument("--batches", type=int, default=1200, help="Random batches to run.")
    parser.add_argument("--threads", type=int, default=2, help="OpenVINO inference threads.")
    args = parser.parse_args(argv)
    if not args.model.is_file():
        parser.error(f"{args.model} not found: pass an exported ONNX file (sotriage export RUN --openvino-int8)")
    if args.pad_multiple < 1:
        parser.error(f"invalid --pad-multiple {args.pad_multiple}: use 1 or more")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    backend = OpenVinoBackend(args.model, threads=args.threads)
    rng = np.random.default_rng(0)
    process = psutil.Process()
    started = time.perf_counter()
    for step in range(1, args.batches + 1):
        rows = int(rng.integers(1, 33))
        length = int(rng.integers(20, 257))
        length = -(-length // args.pad_multiple) * args.pad_multiple

        # All-ones ids and mask: the values do not change which kernels run, only the shape does.
        ones = np.ones((rows, length), dtype=np.int64)  # (batch, seq)
        backend({"input_ids": ones, "attention_mask": ones, "token_type_ids": np.zeros_like(ones)})

        if step % REPORT_EVERY == 0 or step == 100:
            rss = process.memory_info().rss / 2**20
            print(f"batch {step:>5}: RSS {rss:,.0f} MiB after {time.perf_counter() - started:.1f} s", flush=True)


if __name__ == "__main__":
    main()
