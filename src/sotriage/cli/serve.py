"""`sotriage serve`: the classifier behind Triton Inference Server (KServe v2 HTTP and gRPC, metrics)."""

from __future__ import annotations

import logging

import click

from ..serving.protocol import DEFAULT_MAX_BODY_BYTES, DEFAULT_MODEL_NAME
from .common import handle_errors


@click.command()
@click.argument("model", required=False, type=click.Path(file_okay=False))
@click.option("--backend", default="onnx-int8", show_default=True, help="torch, onnx, onnx-int8, onnx-int8-static, openvino or openvino-int8 (fastest on CPUs with INT8 VNNI).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Inference threads (default: all cores).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address for the HTTP, gRPC and metrics endpoints. The default accepts local clients only; 0.0.0.0 accepts all.")
@click.option("--port", "http_port", type=int, default=8000, show_default=True, help="HTTP port (KServe v2 REST and health).")
@click.option("--grpc-port", type=int, default=8001, show_default=True, help="gRPC port (KServe v2).")
@click.option("--metrics-port", type=int, default=8002, show_default=True, help="Prometheus metrics port (GET /metrics).")
@click.option("--model-name", default=DEFAULT_MODEL_NAME, show_default=True, help="Name clients use in /v2/models/NAME.")
@click.option("--max-batch-size", type=int, default=32, show_default=True,
              help="Max questions per batch that Triton's dynamic batcher hands to the classifier.")
@click.option("--max-queue-delay", "max_queue_delay_us", type=int, default=2000, show_default=True,
              help="Microseconds a request may wait for others to fill a batch.")
@click.option("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES, show_default=True,
              help="Max UTF-8 bytes of each text input (title, body, tags); longer requests are rejected.")
@click.option("--pad-multiple", type=click.IntRange(min=1), default=32, show_default=True,
              help="Pad each batch's sequence length up to a multiple of this many tokens, so the backend sees few "
                   "distinct shapes (OpenVINO's memory grows with each new shape); 1 pads to the longest question only.")
@handle_errors
def serve(model, backend, threads, host, http_port, grpc_port, metrics_port, model_name, max_batch_size,
          max_queue_delay_us, max_body_bytes, pad_multiple) -> None:
    """Serve MODEL (a run folder, a merged model or shipped:reasons; default: the shipped binary model) through Triton.

    Starts Triton Inference Server from the nvidia-pytriton package with the classifier bound as a
    Python callable, and serves until Ctrl+C or SIGTERM. Startup, shutdown and each rejected
    request (with its request id) are logged to stderr; Triton's own log goes to stdout.

    \b
    Example:
      sotriage serve runs/minilm-lora --backend onnx-int8 --port 8000
      sotriage predict --url 127.0.0.1:8000 --title "How do I parse JSON in Python?" --tags python
      curl -s 127.0.0.1:8000/v2/health/ready && curl -s 127.0.0.1:8002/metrics | head
    """
    from ..serving.server import ServeConfig, serve_forever

    config = ServeConfig(model=model, backend=backend, threads=threads, host=host, http_port=http_port,
                         grpc_port=grpc_port, metrics_port=metrics_port, model_name=model_name,
                         max_batch_size=max_batch_size, max_queue_delay_us=max_queue_delay_us, max_body_bytes=max_body_bytes,
                         pad_multiple=pad_multiple)
    # Show the serving package's INFO logs (startup, shutdown) even without -v, because an
    # operator needs them. Rejected requests are WARNING logs and show anyway.
    logging.getLogger("sotriage.serving").setLevel(logging.INFO)
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve_forever(config)
