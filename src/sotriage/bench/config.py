"""Benchmark configuration: models, backends, settings, sizes and threads of a run."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

from ..encoding import DEFAULT_MAX_BATCH_TOKENS as ENCODING_MAX_BATCH_TOKENS
from ..errors import InputError
from .ceilings import GEMM_SHAPE

MODEL_KEYS = ("classifier", "bert-base")
SETTING_NAMES = ("reference", "sorted32", "production", "latency", "end2end")
# Settings whose sequences/s compare model cost alone (no tokenization, batches larger than one);
# the best backend of a model is chosen among these.
THROUGHPUT_SETTINGS = ("reference", "sorted32", "production")

# Display titles of the CPU backends. Any other registered CPU backend is measured too, under its name.
BACKEND_TITLES = {
    "torch": "PyTorch FP32",
    "onnx": "ORT FP32 fused",
    "onnx-int8": "ORT INT8 dynamic fused",
    "onnx-int8-static": "ORT INT8 static",
    "openvino": "OpenVINO",
    "openvino-int8": "OpenVINO INT8 (Q/DQ)",
}
# The module that registers each optional backend, for the reason recorded when it is absent.
OPTIONAL_BACKEND_MODULES = {"openvino": "sotriage/runtime/openvino_backend.py",
                            "openvino-int8": "sotriage/runtime/openvino_backend.py"}
OPENVINO_INT8_BACKEND = "openvino-int8"

REFERENCE_BACKEND = "torch"
REFERENCE_SETTING = "reference"
STANDARD_RECIPE_BACKEND = "onnx-int8"
STANDARD_RECIPE_SETTING = "sorted32"

REFERENCE_BATCH_SIZE = 32
REFERENCE_PAD_TO = 512
QUICK_N = 64
DEFAULT_N = 128
# Token budget of production batches: the classifier's default (sotriage.encoding).
DEFAULT_MAX_BATCH_TOKENS = ENCODING_MAX_BATCH_TOKENS
# Row cap of a production batch, so thousands of very short questions never form one huge batch.
DEFAULT_MAX_BATCH_SIZE = 128


def default_threads() -> int:
    """Physical cores usable by this process: torch and ONNX Runtime both get this many."""
    import psutil

    physical = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    return max(1, min(physical, usable))


def parse_list(value: str | None, allowed: tuple[str, ...] | None, option: str) -> tuple[str, ...] | None:
    """Split a comma-separated option value and check each name against `allowed` (None: any name)."""
    if value is None:
        return None
    names = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    if not names:
        raise InputError(f"invalid {option} {value!r}: give one or more comma-separated names")
    if allowed is not None:
        unknown = [name for name in names if name not in allowed]
        if unknown:
            raise InputError(f"invalid {option} {', '.join(unknown)}: use one or more of {', '.join(allowed)}")
    return names


def parse_shape(value: str) -> tuple[int, ...]:
    """Parse "M,K,N" into integers."""
    try:
        return tuple(int(part) for part in value.split(","))
    except ValueError:
        raise InputError(f"invalid --gemm-shape {value!r}: give three positive integers M,K,N such as 4096,768,3072") from None


@dataclass
class BenchConfig:
    models: tuple[str, ...] | None = None  # None: both models
    backends: tuple[str, ...] | None = None  # None: every registered backend
    settings: tuple[str, ...] | None = None  # None: all five
    n: int | None = None  # questions per setting; None: DEFAULT_N, or QUICK_N with quick
    passes: int = 3
    threads: int | None = None  # None: physical cores
    max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    data: str | None = None  # prepared dataset folder or Kaggle CSV; None: real data beside the checkout
    model: str | None = None  # run or model folder for the classifier; None: the shipped model
    quick: bool = False
    levers: bool = False
    seed: int = 0
    gemm_shape: tuple[int, ...] = GEMM_SHAPE  # M, K, N of the ceiling GEMMs
    # A model folder measured under the name bert-base instead of a random BERT-base, so tests can
    # run the whole benchmark on a tiny model.
    bert_base_model: str | None = None
    explicit: dict = field(default_factory=dict)  # which selections the user named

    def __post_init__(self) -> None:
        self.explicit = {"models": self.models is not None, "backends": self.backends is not None,
                         "settings": self.settings is not None}
        if self.models is None:
            self.models = MODEL_KEYS
        if self.settings is None:
            self.settings = SETTING_NAMES
        if self.n is None:
            self.n = QUICK_N if self.quick else DEFAULT_N
        if self.threads is None:
            self.threads = default_threads()
        self._validate()

    def _validate(self) -> None:
        unknown = [m for m in self.models if m not in MODEL_KEYS]
        if unknown:
            raise InputError(f"invalid --models {', '.join(unknown)}: use one or more of {', '.join(MODEL_KEYS)}")
        unknown = [s for s in self.settings if s not in SETTING_NAMES]
        if unknown:
            raise InputError(f"invalid --settings {', '.join(unknown)}: use one or more of {', '.join(SETTING_NAMES)}")
        if self.n < 1:
            raise InputError(f"invalid --n {self.n}: use 1 or more questions per setting")
        if self.passes < 1:
            raise InputError(f"invalid --passes {self.passes}: use 1 or more (the median of the passes is reported)")
        if self.threads < 1:
            raise InputError(f"invalid --threads {self.threads}: use 1 or more (default: the physical cores, {default_threads()})")
        if self.max_batch_tokens < 16:
            raise InputError(f"invalid --max-batch-tokens {self.max_batch_tokens}: use at least 16, e.g. {DEFAULT_MAX_BATCH_TOKENS}")
        if len(self.gemm_shape) != 3 or min(self.gemm_shape) < 1:
            shape = ",".join(str(size) for size in self.gemm_shape)
            raise InputError(f"invalid --gemm-shape {shape}: give three positive sizes M,K,N such as 4096,768,3072")
        if self.max_batch_size < 1:
            raise InputError(f"invalid --max-batch-size {self.max_batch_size}: use 1 or more rows")

    def to_dict(self) -> dict:
        return asdict(self)
