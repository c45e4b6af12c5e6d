"""The run folder: the fixed layout that connects the stages.

    RUN_DIR/config.json            resolved training config
    RUN_DIR/split.json             which question ids went to train, validation and test
    RUN_DIR/adapter/               LoRA adapter with the trained head (peft format)
    RUN_DIR/model/                 merged model + tokenizer (save_pretrained, safetensors) + sotriage.json
    RUN_DIR/onnx/model.onnx        FP32 ONNX export
    RUN_DIR/onnx/model-fused.onnx  after ONNX Runtime's BERT fusions
    RUN_DIR/onnx/model-int8.onnx   INT8 dynamic quantization of the fused graph
    RUN_DIR/onnx/export.json       parity of each file against PyTorch
    RUN_DIR/metrics/               train_log.jsonl, train.json, eval-<backend>.json
    RUN_DIR/checkpoints/           last.pt (for --resume) and best.pt
    RUN_DIR/README.md              model card
"""

from __future__ import annotations

from pathlib import Path

from .errors import MissingArtifactError

# The command that produces each artifact, named in the error when the artifact is missing.
_PRODUCERS = {
    "config": "sotriage train DATA_DIR --out {run}",
    "model": "sotriage train DATA_DIR --out {run}",
    "adapter": "sotriage train DATA_DIR --out {run}",
    "onnx": "sotriage export {run}",
    "onnx_fused": "sotriage export {run}",
    "onnx_int8": "sotriage export {run}",
}


class RunDir:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    config = property(lambda self: self.root / "config.json")
    split = property(lambda self: self.root / "split.json")
    adapter = property(lambda self: self.root / "adapter")
    model = property(lambda self: self.root / "model")
    onnx_dir = property(lambda self: self.root / "onnx")
    onnx = property(lambda self: self.onnx_dir / "model.onnx")
    onnx_fused = property(lambda self: self.onnx_dir / "model-fused.onnx")
    onnx_int8 = property(lambda self: self.onnx_dir / "model-int8.onnx")
    export_report = property(lambda self: self.onnx_dir / "export.json")
    metrics = property(lambda self: self.root / "metrics")
    checkpoints = property(lambda self: self.root / "checkpoints")
    card = property(lambda self: self.root / "README.md")

    def require(self, artifact: str) -> Path:
        """Return the artifact's path, or raise an error naming the command that produces it."""
        path = getattr(self, artifact)
        if not path.exists():
            existing = sorted(p.name for p in self.root.iterdir()) if self.root.is_dir() else []
            producer = _PRODUCERS.get(artifact, "sotriage train").format(run=self.root)
            raise MissingArtifactError(
                f"{path} not found. It is produced by: {producer}\n"
                f"{self.root} contains: {', '.join(existing) if existing else ('nothing' if self.root.is_dir() else 'nothing (the folder does not exist)')}"
            )
        return path
