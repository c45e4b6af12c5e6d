"""TensorRT engine cache: one .plan file per (ONNX model, precision, TensorRT version, GPU model).

A serialized TensorRT engine runs only with the TensorRT version and the GPU model that built it,
and it encodes one ONNX graph. Each engine therefore lives under a name derived from those four
fields, with a JSON sidecar that records them:

    ENGINE_DIR/model-fp16-<key>.plan   the serialized engine
    ENGINE_DIR/model-fp16-<key>.json   identity (the four fields), key, profile shapes, build settings

Loading looks the current machine's key up and rejects, with the differing fields named, an engine
that was built for another model file, TensorRT version or GPU.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..errors import MissingArtifactError, SotriageError
from ..io import read_json

PRECISIONS = ("fp16", "int8")
ENGINE_DIR_NAME = "tensorrt"


class EngineMismatchError(SotriageError):
    """A cached engine was built for another model, precision, TensorRT version or GPU."""


@dataclass(frozen=True)
class EngineIdentity:
    """The four fields a TensorRT engine is valid for."""

    model_sha256: str  # of the ONNX file the engine was parsed from
    precision: str  # fp16 | int8
    tensorrt_version: str
    gpu_name: str  # torch.cuda.get_device_name(), e.g. "NVIDIA H200"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise SotriageError(f"invalid TensorRT precision {self.precision!r}: use one of {', '.join(PRECISIONS)}")

    def cache_key(self) -> str:
        return engine_cache_key(self.model_sha256, self.precision, self.tensorrt_version, self.gpu_name)

    def differences(self, other: "EngineIdentity") -> list[str]:
        """Describe each field where `other` (a cached engine) differs from this one."""
        return [
            f"{field.name}: engine {getattr(other, field.name)!r}, this machine {getattr(self, field.name)!r}"
            for field in fields(self)
            if getattr(self, field.name) != getattr(other, field.name)
        ]


def engine_cache_key(model_sha256: str, precision: str, tensorrt_version: str, gpu_name: str) -> str:
    """Return a 16-hex-digit key that changes when any of the four fields changes."""
    canonical = json.dumps([model_sha256, precision, tensorrt_version, gpu_name], separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def file_sha256(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()


def engine_dir_for(onnx_dir: Path) -> Path:
    """Return the engine folder beside the ONNX folder (RUN/tensorrt), so re-exporting ONNX keeps it."""
    return Path(onnx_dir).parent / ENGINE_DIR_NAME


def engine_paths(engine_dir: Path, identity: EngineIdentity) -> tuple[Path, Path]:
    """Return the (.plan, .json sidecar) paths for `identity`."""
    stem = f"model-{identity.precision}-{identity.cache_key()}"
    return engine_dir / f"{stem}.plan", engine_dir / f"{stem}.json"


def sidecar_record(identity: EngineIdentity, **build_info) -> dict:
    return {"identity": asdict(identity), "cache_key": identity.cache_key(), **build_info}


def read_sidecar_identity(sidecar: Path) -> EngineIdentity:
    try:
        record = read_json(sidecar)
        return EngineIdentity(**record["identity"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SotriageError(f"{sidecar}: unreadable engine sidecar ({error}). Delete it and its .plan file and rebuild the engine.") from None


def find_engine(engine_dir: Path, identity: EngineIdentity, rebuild_command: str) -> Path:
    """Return the cached .plan for `identity`, or raise an error that names the fix.

    Raises EngineMismatchError when engines of this precision exist but none matches this model,
    TensorRT version and GPU, and MissingArtifactError when there is none at all.
    """
    plan, sidecar = engine_paths(engine_dir, identity)
    if plan.is_file() and sidecar.is_file():
        cached = read_sidecar_identity(sidecar)
        if cached == identity:
            return plan
        # The key matched but the recorded fields do not: a renamed or edited file.
        raise EngineMismatchError(_mismatch_message(plan, identity, cached, rebuild_command))

    others = sorted(engine_dir.glob(f"model-{identity.precision}-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    if others:
        cached = read_sidecar_identity(others[0])
        raise EngineMismatchError(_mismatch_message(others[0].with_suffix(".plan"), identity, cached, rebuild_command))
    raise MissingArtifactError(
        f"no TensorRT {identity.precision} engine in {engine_dir}. Build one on this machine with: {rebuild_command}"
    )


def _mismatch_message(plan: Path, identity: EngineIdentity, cached: EngineIdentity, rebuild_command: str) -> str:
    return (
        f"rejected TensorRT engine {plan}: it was built for another setup ({'; '.join(identity.differences(cached))}). "
        "An engine runs only with the ONNX model, precision, TensorRT version and GPU model it was built for. "
        f"Rebuild it on this machine with: {rebuild_command}"
    )
