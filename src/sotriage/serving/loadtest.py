"""Load test a running Triton server with real questions: throughput, latency, errors, memory.

N client threads each keep one request in flight (closed loop), round-robin over the questions,
until the duration ends or the request budget is spent. The server's memory is the RSS of a
process tree: `server_pid` and its children, which for `sotriage serve` are tritonserver and the
Python-backend stub. Without a pid it is Triton's `nv_cpu_memory_used_bytes` metric, which counts
the whole host's used memory and not the server's own.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence
from urllib.parse import urlparse

import numpy as np

from ..data.schema import Question
from ..errors import InputError, SotriageError
from .client import PROTOCOLS, ClientConfig, ServerError, TritonClassifierClient
from .protocol import DEFAULT_MODEL_NAME

log = logging.getLogger(__name__)

_METRIC_LINE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)')
_MODEL_COUNTERS = ("nv_inference_request_success", "nv_inference_request_failure", "nv_inference_count", "nv_inference_exec_count")


@dataclass
class LoadTestConfig:
    url: str = "127.0.0.1:8000"
    protocol: str = "http"
    model_name: str = DEFAULT_MODEL_NAME
    concurrency: int = 8
    duration_s: float = 30.0
    warmup_s: float = 10.0
    max_requests: int | None = None
    questions_per_request: int = 1
    server_pid: int | None = None
    metrics_url: str | None = None
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise InputError(f"invalid protocol {self.protocol!r}: use http or grpc")
        if not 1 <= self.concurrency <= 1024:
            raise InputError(f"invalid concurrency {self.concurrency}: use 1 to 1024 client threads")
        if not 0 < self.duration_s <= 3600:
            raise InputError(f"invalid duration {self.duration_s}: use more than 0 and at most 3600 seconds")
        if not 0 <= self.warmup_s <= 600:
            raise InputError(f"invalid warmup {self.warmup_s}: use 0 to 600 seconds")
        if self.max_requests is not None and self.max_requests < 1:
            raise InputError(f"invalid max_requests {self.max_requests}: use 1 or more, or leave it out")
        if not 1 <= self.questions_per_request <= 1024:
            raise InputError(f"invalid questions_per_request {self.questions_per_request}: use 1 to 1024")


@dataclass
class LoadTestResult:
    requests: int = 0
    questions: int = 0
    errors: int = 0
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    error_samples: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        latencies = np.asarray(self.latencies_ms) if self.latencies_ms else np.zeros(1)
        return {
            "requests": self.requests, "questions": self.questions, "errors": self.errors,
            "elapsed_s": round(self.elapsed_s, 3),
            "requests_per_s": self.requests / self.elapsed_s if self.elapsed_s else 0.0,
            "questions_per_s": self.questions / self.elapsed_s if self.elapsed_s else 0.0,
            "latency_ms": {f"p{q}": float(np.percentile(latencies, q)) for q in (50, 95, 99)} | {"max": float(latencies.max())},
            "error_samples": self.error_samples,
        }


def check_local_target(url: str) -> None:
    """Log where the load goes: loopback by default, another host only when the user names it."""
    parsed = urlparse(url if "://" in url else f"//{url}")
    host = parsed.hostname or ""
    try:
        address = ipaddress.ip_address(socket.gethostbyname(host))
    except (OSError, ValueError):
        raise InputError(f"cannot resolve the server host {host!r} in {url!r}: pass host:port, e.g. 127.0.0.1:8000") from None
    if not address.is_loopback:
        log.warning("load testing %s (%s), which is not a loopback address", host, address)


# --- server memory and metrics ------------------------------------------------------------

def process_tree_rss(pid: int) -> int:
    """Return the RSS in bytes of process `pid` and all its descendants."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        raise InputError(f"server process {pid} not found: pass the pid of a running `sotriage serve` (--server-pid)") from None
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def read_metrics(url: str, timeout_s: float = 5.0) -> dict[tuple[str, str], float]:
    """Parse a Prometheus text page into {(metric name, label text): value}."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        text = response.read().decode("utf-8", errors="replace")
    values = {}
    for line in text.splitlines():
        match = _METRIC_LINE.match(line)
        if match and not line.startswith("#"):
            try:
                values[(match["name"], match["labels"] or "")] = float(match["value"])
            except ValueError:
                continue
    return values


def model_counters(metrics: dict[tuple[str, str], float], model_name: str) -> dict[str, float]:
    counters = {name: 0.0 for name in _MODEL_COUNTERS}
    for (name, labels), value in metrics.items():
        if name in counters and f'model="{model_name}"' in labels:
            counters[name] += value
    return counters


def server_memory(config: LoadTestConfig) -> tuple[int | None, str]:
    """Return (bytes, what was measured)."""
    if config.server_pid is not None:
        return process_tree_rss(config.server_pid), f"RSS of process {config.server_pid} and its children"
    if config.metrics_url:
        metrics = read_metrics(config.metrics_url)
        used = metrics.get(("nv_cpu_memory_used_bytes", ""))
        if used is not None:
            return int(used), "Triton metric nv_cpu_memory_used_bytes (whole host, not the server alone)"
    return None, "not measured (pass --server-pid, or --metrics-url for the host-wide Triton metric)"


# --- the load loop ------------------------------------------------------------------------

def _worker(client_factory: Callable[[], TritonClassifierClient], batches: Sequence[list[Question]], start_index: int,
            deadline: float, budget: "_Budget", result: LoadTestResult, lock: threading.Lock) -> None:
    client = client_factory()
    index = start_index
    try:
        while time.monotonic() < deadline and budget.take():
            batch = batches[index % len(batches)]
            index += 1
            started = time.perf_counter()
            try:
                client.infer_raw(batch)
                error = None
            except (ServerError, SotriageError) as failure:
                error = str(failure)
            latency_ms = (time.perf_counter() - started) * 1000
            with lock:
                result.requests += 1
                result.questions += len(batch)
                result.latencies_ms.append(latency_ms)
                if error is not None:
                    result.errors += 1
                    if len(result.error_samples) < 5:
                        result.error_samples.append(error[:300])
    finally:
        client.close()


class _Budget:
    """Request budget shared by the workers; unlimited when max_requests is None."""

    def __init__(self, max_requests: int | None):
        self.left = max_requests
        self._lock = threading.Lock()

    def take(self) -> bool:
        if self.left is None:
            return True
        with self._lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True


def make_batches(questions: Sequence[Question], per_request: int) -> list[list[Question]]:
    if not questions:
        raise InputError("no questions to send: the dataset is empty")
    return [list(questions[i : i + per_request]) for i in range(0, len(questions) - per_request + 1, per_request)] or [list(questions)]


def run_load_test(config: LoadTestConfig, questions: Sequence[Question], progress: Callable[[float], None] | None = None) -> dict:
    """Run the load test and return a JSON-ready report."""
    check_local_target(config.url)
    client_config = ClientConfig(url=config.url, protocol=config.protocol, model_name=config.model_name, timeout_s=config.timeout_s)
    with TritonClassifierClient(client_config) as probe:
        probe.input_names()  # fails early with a clear message when the server or model is missing
    batches = make_batches(questions, config.questions_per_request)

    memory_cold, memory_source = server_memory(config)
    budget = _Budget(config.max_requests)  # shared, so warm-up requests count against max_requests
    if config.warmup_s > 0:
        # Untimed phase at full concurrency: session arenas and buffers reach their working size,
        # so the memory comparison below shows growth under load, not first-use allocations.
        warmup = _run_phase(config, client_config, batches, config.warmup_s, budget, None)
        log.info("warm-up: %d requests in %.1f s, %d errors", warmup.requests, warmup.elapsed_s, warmup.errors)
    memory_before, _ = server_memory(config)
    counters_before = model_counters(read_metrics(config.metrics_url), config.model_name) if config.metrics_url else None

    result = _run_phase(config, client_config, batches, config.duration_s, budget, progress)

    memory_after, _ = server_memory(config)
    report = {"config": asdict(config), **result.summary(), "memory": {
        "source": memory_source, "cold_bytes": memory_cold, "before_bytes": memory_before, "after_bytes": memory_after,
        "growth_pct": (100.0 * (memory_after - memory_before) / memory_before) if memory_before and memory_after else None,
    }}
    if counters_before is not None:
        counters_after = model_counters(read_metrics(config.metrics_url), config.model_name)
        delta = {name: counters_after[name] - counters_before[name] for name in _MODEL_COUNTERS}
        report["server_metrics"] = delta
        if delta["nv_inference_exec_count"] > 0:
            report["server_mean_batch_size"] = delta["nv_inference_count"] / delta["nv_inference_exec_count"]
    return report


def _run_phase(config: LoadTestConfig, client_config: ClientConfig, batches: Sequence[list[Question]], seconds: float,
               budget: _Budget, progress: Callable[[float], None] | None) -> LoadTestResult:
    """Run `config.concurrency` closed-loop workers for `seconds` (or until `budget` runs out)."""
    result, lock = LoadTestResult(), threading.Lock()
    started = time.monotonic()
    deadline = started + seconds
    workers = [
        threading.Thread(target=_worker, name=f"loadtest-{i}", daemon=True,
                         args=(lambda: TritonClassifierClient(client_config), batches, i * 7, deadline, budget, result, lock))
        for i in range(config.concurrency)
    ]
    for worker in workers:
        worker.start()
    while any(worker.is_alive() for worker in workers):
        time.sleep(0.5)
        if progress:
            progress(min(time.monotonic() - started, seconds))
    result.elapsed_s = time.monotonic() - started
    return result


def in_process_throughput(classifier, questions: Sequence[Question], batch_size: int, min_seconds: float = 10.0) -> dict:
    """Questions/s of `classifier` called directly with batches of `batch_size`, over at least min_seconds."""
    if batch_size < 1:
        raise SotriageError(f"invalid batch size {batch_size} for the in-process baseline")
    batches = make_batches(questions, batch_size)
    classifier.predict_proba(batches[0])  # warm-up: session initialization and first-call allocations
    done, started, index = 0, time.perf_counter(), 0
    while time.perf_counter() - started < min_seconds:
        batch = batches[index % len(batches)]
        classifier.predict_proba(batch)
        done += len(batch)
        index += 1
    elapsed = time.perf_counter() - started
    return {"batch_size": batch_size, "questions": done, "elapsed_s": elapsed, "questions_per_s": done / elapsed}
