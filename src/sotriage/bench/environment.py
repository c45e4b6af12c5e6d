"""Hardware, package versions and thread settings, recorded with every benchmark result."""

from __future__ import annotations

import logging
import os
import platform
import time
from importlib import metadata
from pathlib import Path

log = logging.getLogger(__name__)

# CPU features that decide which GEMM kernels ONNX Runtime, oneDNN and OpenVINO can use.
INTERESTING_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16",
                     "amx_tile", "amx_int8", "amx_bf16")
PACKAGES = ("numpy", "torch", "onnxruntime", "onnx", "transformers", "tokenizers", "openvino", "sotriage")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "TOKENIZERS_PARALLELISM")


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    """Return the Python version and each relevant package's version (None when not installed)."""
    return {"python": platform.python_version(), **{name: package_version(name) for name in PACKAGES}}


def hardware(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict:
    """Describe the CPU: model, cores, usable cores, memory and the SIMD/AMX flags that matter."""
    import psutil

    model, flags = _read_cpuinfo(cpuinfo)
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    return {
        "cpu_model": model or platform.processor() or "unknown",
        "physical_cores": psutil.cpu_count(logical=False),
        "logical_cores": psutil.cpu_count(logical=True),
        "usable_cores": usable,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "flags": {flag: flag in flags for flag in INTERESTING_FLAGS},
        "machine": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
    }


def _read_cpuinfo(path: Path) -> tuple[str | None, set[str]]:
    if not path.is_file():
        return None, set()
    model, flags = None, set()
    for line in path.read_text(errors="replace").splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return model, flags


def load_average() -> list[float] | None:
    """Return the 1, 5 and 15 minute load averages: above the thread count means a shared CPU."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


class CpuShareMeter:
    """Measure how much CPU other processes used while the benchmark ran, as a share of all cores.

    A share well above zero means the results were measured on a shared CPU and are lower than
    what an idle machine gives.
    """

    def __init__(self):
        import psutil

        self._psutil = psutil
        self._process = psutil.Process()
        self._start = self._sample()

    def _sample(self) -> tuple[float, float, float]:
        system = self._psutil.cpu_times()
        busy = sum(system) - system.idle - getattr(system, "iowait", 0.0)
        own = self._process.cpu_times()
        return time.monotonic(), busy, own.user + own.system + own.children_user + own.children_system

    def other_processes_share(self) -> float:
        wall_start, busy_start, own_start = self._start
        wall_end, busy_end, own_end = self._sample()
        capacity = (wall_end - wall_start) * (self._psutil.cpu_count() or 1)
        others = (busy_end - busy_start) - (own_end - own_start)
        return round(max(0.0, others / capacity), 3) if capacity > 0 else 0.0


def configure_threads(threads: int) -> dict:
    """Give torch `threads` intra-op threads and one inter-op thread; return the settings in force.

    ONNX Runtime sessions get the same numbers from `runtime.onnx_backend.session_options`, so the
    two runtimes never oversubscribe the cores. Backends run one at a time.
    """
    import torch

    from ..runtime.onnx_backend import session_options

    ort_options = session_options(threads)
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        # Only settable before torch's first parallel work; a second run in one process keeps it.
        log.debug("torch inter-op threads already fixed at %d", torch.get_num_interop_threads())
    return {
        "threads": threads,
        "torch_intra_op_threads": torch.get_num_threads(),
        "torch_inter_op_threads": torch.get_num_interop_threads(),
        "ort_intra_op_threads": ort_options.intra_op_num_threads,
        "ort_inter_op_threads": ort_options.inter_op_num_threads,
        "ort_allow_spinning": ort_options.get_session_config_entry("session.intra_op.allow_spinning") != "0",
        "backends_run": "one at a time",
        "environment": {name: os.environ.get(name) for name in THREAD_VARIABLES},
    }
