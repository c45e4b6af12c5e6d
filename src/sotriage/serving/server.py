"""`sotriage serve`: the classifier as a Python callable inside Triton Inference Server (PyTriton).

PyTriton starts the tritonserver binary shipped in the nvidia-pytriton wheel. Triton runs the HTTP
and gRPC endpoints (KServe v2), health, dynamic batching and the Prometheus metrics. Each batch
that Triton's dynamic batcher forms reaches `InferenceHandler` in this process, which tokenizes
the questions and runs them through the classifier in length-sorted batches.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..errors import InputError, missing_extra
from ..runtime.classifier import Classifier
from .protocol import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MODEL_NAME,
    METADATA_INPUTS,
    OUTPUT_LABEL,
    OUTPUT_LABEL_NAMES,
    OUTPUT_PROBABILITIES,
    TEXT_INPUTS,
    RequestError,
    check_model_name,
    questions_from_inputs,
    request_id_from,
)
from .stub_env import configure_stub_environment

log = logging.getLogger(__name__)

# Triton turns matching HTTP headers and gRPC metadata into request parameters, so a client's
# X-Request-ID reaches the handler and its log lines.
HEADER_FORWARD_PATTERN = "(?i)x-request-id"


@dataclass
class ServeConfig:
    model: str | None = None
    backend: str = "onnx-int8"
    threads: int | None = None
    host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    model_name: str = DEFAULT_MODEL_NAME
    max_batch_size: int = 32
    max_queue_delay_us: int = 2000
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # Sequence lengths are padded up to a multiple of this. OpenVINO keeps compiled kernels for
    # every input shape it receives. With shapes unbounded, a 2-minute load test of openvino-int8
    # grew the server by 44%, and a multiple of 32 keeps the shapes to a few hundred.
    pad_multiple: int = 32

    def __post_init__(self) -> None:
        check_model_name(self.model_name)
        ports = {"http_port": self.http_port, "grpc_port": self.grpc_port, "metrics_port": self.metrics_port}
        for name, port in ports.items():
            if not 1 <= port <= 65535:
                raise InputError(f"invalid {name} {port}: use a TCP port from 1 to 65535")
        if len(set(ports.values())) != len(ports):
            raise InputError(f"the HTTP, gRPC and metrics ports must differ; got {ports}")
        if not 1 <= self.max_batch_size <= 1024:
            raise InputError(f"invalid max_batch_size {self.max_batch_size}: use 1 to 1024 questions")
        if not 0 <= self.max_queue_delay_us <= 10_000_000:
            raise InputError(f"invalid max_queue_delay_us {self.max_queue_delay_us}: use 0 to 10000000 microseconds")
        if self.pad_multiple < 1:
            raise InputError(f"invalid pad_multiple {self.pad_multiple}: use 1 (no extra padding) or more, e.g. 32")
        if self.max_body_bytes < 1:
            raise InputError(f"invalid max_body_bytes {self.max_body_bytes}: use a positive number of bytes")
        if self.threads is not None and self.threads < 1:
            raise InputError(f"invalid threads {self.threads}: use 1 or more, or leave it out for all cores")

    def endpoints(self) -> dict[str, str]:
        return {"http": f"http://{self.host}:{self.http_port}", "grpc": f"{self.host}:{self.grpc_port}",
                "metrics": f"http://{self.host}:{self.metrics_port}/metrics"}


class InferenceHandler:
    """The callable bound in Triton: a list of requests in, one dict of outputs per request out."""

    def __init__(self, classifier: Classifier, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES):
        self.classifier = classifier
        self.max_body_bytes = max_body_bytes
        self.label_names = np.array([name.encode("utf-8") for name in classifier.label_names], dtype=np.object_)
        self.requests = 0
        self.bad_requests = 0
        self._lock = threading.Lock()

    def __call__(self, requests: list) -> list[dict[str, np.ndarray]]:
        parsed, errors = [], []
        for request in requests:
            request_id = request_id_from(request.parameters)
            try:
                parsed.append(questions_from_inputs(request.data, self.max_body_bytes))
            except RequestError as error:
                with self._lock:
                    self.bad_requests += 1
                log.warning("bad request %s: %s", request_id, error)
                errors.append(f"request {request_id}: {error}")
        with self._lock:
            self.requests += len(requests)
        if errors:
            # NOTE: PyTriton 0.7 returns one error for a whole batch, so requests that Triton's
            # dynamic batcher put in the same batch as a bad one fail with this message too.
            raise RequestError("; ".join(errors))

        questions = [question for request_questions in parsed for question in request_questions]
        probabilities = self.classifier.predict_proba(questions).astype(np.float32)  # (total, num_labels)
        responses, start = [], 0
        for request_questions in parsed:
            rows = probabilities[start : start + len(request_questions)]
            start += len(request_questions)
            labels = [[self.label_names[index]] for index in rows.argmax(axis=1)]
            responses.append({
                OUTPUT_LABEL: np.array(labels, dtype=np.object_),
                OUTPUT_PROBABILITIES: rows,
                OUTPUT_LABEL_NAMES: np.tile(self.label_names, (len(rows), 1)),
            })
        return responses


def model_tensors(num_labels: int):
    """PyTriton input and output specs; shapes exclude the batch dimension."""
    from pytriton.model_config import Tensor

    # The text inputs are required, but declared optional so that a request missing one reaches
    # InferenceHandler, which rejects it with its own message and logs it with the request id.
    inputs = [Tensor(name=name, dtype=bytes, shape=(1,), optional=True) for name in TEXT_INPUTS]
    inputs += [Tensor(name=name, dtype=np.float32, shape=(1,), optional=True) for name in METADATA_INPUTS]
    outputs = [
        Tensor(name=OUTPUT_LABEL, dtype=bytes, shape=(1,)),
        Tensor(name=OUTPUT_PROBABILITIES, dtype=np.float32, shape=(num_labels,)),
        Tensor(name=OUTPUT_LABEL_NAMES, dtype=bytes, shape=(num_labels,)),
    ]
    return inputs, outputs


def _triton_config(config: ServeConfig):
    from pytriton.triton import TritonConfig

    return TritonConfig(
        http_address=config.host, http_port=config.http_port,
        grpc_address=config.host, grpc_port=config.grpc_port,
        metrics_address=config.host, metrics_port=config.metrics_port,
        http_header_forward_pattern=HEADER_FORWARD_PATTERN, grpc_header_forward_pattern=HEADER_FORWARD_PATTERN,
        exit_timeout_secs=10,
    )


@contextlib.contextmanager
def running_server(config: ServeConfig, classifier: Classifier | None = None) -> Iterator[tuple[object, InferenceHandler]]:
    """Start Triton with the classifier bound as `config.model_name`; stop it when the block exits."""
    try:
        from pytriton.model_config import DynamicBatcher, ModelConfig
        from pytriton.triton import Triton
    except ImportError:
        raise missing_extra("nvidia-pytriton", "serve") from None

    configure_stub_environment()  # before the model load, so a failure here is reported at once
    owns_classifier = classifier is None
    if classifier is None:
        classifier = Classifier.load(config.model, backend=config.backend, threads=config.threads,
                                     batch_size=config.max_batch_size)
        classifier.pad_multiple = config.pad_multiple
    handler = InferenceHandler(classifier, config.max_body_bytes)
    inputs, outputs = model_tensors(len(classifier.label_names))
    batching = ModelConfig(max_batch_size=config.max_batch_size,
                           batcher=DynamicBatcher(max_queue_delay_microseconds=config.max_queue_delay_us))
    started = time.monotonic()
    triton = Triton(config=_triton_config(config))
    try:
        triton.run()
        triton.bind(model_name=config.model_name, infer_func=handler, inputs=inputs, outputs=outputs, config=batching)
        endpoints = config.endpoints()
        log.info("server started in %.1f s: model %s (backend %s, labels %s), HTTP %s, gRPC %s, metrics %s",
                 time.monotonic() - started, config.model_name, config.backend, ",".join(classifier.label_names),
                 endpoints["http"], endpoints["grpc"], endpoints["metrics"])
        yield triton, handler
    finally:
        triton.stop()
        if owns_classifier:
            classifier.close()
        log.info("server stopped: %d requests, %d bad", handler.requests, handler.bad_requests)


def serve_forever(config: ServeConfig) -> None:
    """Serve until SIGINT or SIGTERM, then shut Triton down cleanly."""

    def _interrupt(signum, _frame):
        log.info("received signal %d, shutting down", signum)
        raise KeyboardInterrupt

    # SIGINT gets a handler too: a shell starts background jobs with SIGINT ignored, and Python
    # keeps that, so `kill -INT` on `sotriage serve &` would otherwise do nothing.
    previous = {signum: signal.signal(signum, _interrupt) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        with running_server(config) as (triton, _handler):
            try:
                triton.serve()  # returns on KeyboardInterrupt or when tritonserver exits
            except KeyboardInterrupt:
                pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
