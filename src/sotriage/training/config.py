"""Training configuration, validated on creation so a bad flag fails before any work starts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..encoding import EncodingConfig
from ..errors import InputError

# Names of BERT's linear layers, as peft matches them (suffixes of module names).
TARGET_PRESETS = {
    "attention": ["query", "key", "value"],
    "attention-output": ["query", "key", "value", "attention.output.dense"],
    "all-linear": ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"],
}


@dataclass
class TrainConfig:
    data_dir: str
    out: str
    model: str | None = None  # None: the bundled all-MiniLM-L6-v2
    full: bool = False  # full fine-tuning instead of LoRA
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.1
    target_modules: str = "all-linear"  # a TARGET_PRESETS name or comma-separated module names
    last_layers: int | None = None  # LoRA only on the last N encoder layers; None means all
    epochs: float = 2.0
    batch_size: int = 16
    learning_rate: float | None = None  # None: 5e-4 for LoRA, 5e-5 for full fine-tuning
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_grad_norm: float = 1.0
    eval_every: int | None = None  # evaluate every N optimizer steps; None means once per epoch
    eval_max_examples: int | None = None  # cap the validation questions used during training
    patience: int | None = None  # stop after N evaluations without a better validation loss
    max_examples: int | None = None  # use only the first N training questions
    seed: int = 42
    threads: int | None = None
    precision: str = "auto"  # "bf16" autocast, "fp32", or "auto": bf16 where the CPU has native bf16
    encoding: EncodingConfig = field(default_factory=EncodingConfig)

    def __post_init__(self) -> None:
        if isinstance(self.encoding, dict):
            self.encoding = EncodingConfig(**self.encoding)
        checks = [
            (self.lora_rank >= 1, f"invalid --rank {self.lora_rank}: use 1 or more (8 is a good default)"),
            (self.lora_alpha > 0, f"invalid --alpha {self.lora_alpha}: use a positive number (usually 2 x rank)"),
            (0 <= self.lora_dropout < 1, f"invalid --lora-dropout {self.lora_dropout}: use a value in [0, 1)"),
            (self.epochs > 0, f"invalid --epochs {self.epochs}: use a positive number"),
            (self.batch_size >= 1, f"invalid --batch-size {self.batch_size}: use 1 or more"),
            (self.learning_rate is None or self.learning_rate > 0, f"invalid --lr {self.learning_rate}: use a positive number"),
            (0 <= self.warmup_ratio < 1, f"invalid --warmup {self.warmup_ratio}: use a fraction of the steps in [0, 1)"),
            (self.eval_every is None or self.eval_every >= 1, f"invalid --eval-every {self.eval_every}: use 1 or more steps"),
            (self.patience is None or self.patience >= 1, f"invalid --patience {self.patience}: use 1 or more evaluations"),
            (self.max_examples is None or self.max_examples >= 1, f"invalid --max-examples {self.max_examples}: use 1 or more"),
            (self.precision in ("auto", "bf16", "fp32"), f"invalid --precision {self.precision!r}: use auto, bf16 or fp32"),
            (self.last_layers is None or self.last_layers >= 1, f"invalid --last-layers {self.last_layers}: use 1 or more"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)
        if not self.target_module_names():
            raise InputError(f"invalid --targets {self.target_modules!r}: use {', '.join(TARGET_PRESETS)} or comma-separated module names")

    @property
    def lr(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 5e-5 if self.full else 5e-4

    def use_bf16(self) -> bool:
        """Return True to train under bf16 autocast (the weights and optimizer state stay FP32)."""
        if self.precision != "auto":
            return self.precision == "bf16"
        import torch

        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())

    def target_module_names(self) -> list[str]:
        if self.target_modules in TARGET_PRESETS:
            return list(TARGET_PRESETS[self.target_modules])
        return [name.strip() for name in self.target_modules.split(",") if name.strip()]

    def to_dict(self) -> dict:
        data = asdict(self)
        data["learning_rate_used"] = self.lr
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)
