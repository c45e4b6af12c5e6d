"""Build the model to train: a sequence classifier, wrapped with LoRA unless full fine-tuning."""

from __future__ import annotations

import logging

import torch

from ..errors import InputError
from .config import TrainConfig

log = logging.getLogger(__name__)

# Trained in full next to the LoRA matrices: the new classification head, and the pooler, whose
# pretrained weights were never trained for classification in a sentence-embedding model.
HEAD_MODULES = ["classifier", "pooler"]


def wrap_with_lora(model: torch.nn.Module, config: TrainConfig) -> torch.nn.Module:
    from peft import LoraConfig, TaskType, get_peft_model

    layers_to_transform = None
    if config.last_layers is not None:
        total = model.config.num_hidden_layers
        if config.last_layers > total:
            raise InputError(f"invalid --last-layers {config.last_layers}: the model has only {total} layers")
        layers_to_transform = list(range(total - config.last_layers, total))

    lora_config = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.target_module_names(),
        layers_to_transform=layers_to_transform,
        layers_pattern="layer" if layers_to_transform is not None else None,
        modules_to_save=list(HEAD_MODULES),
    )
    try:
        return get_peft_model(model, lora_config)
    except ValueError as error:
        raise InputError(f"LoRA setup failed for --targets {config.target_modules!r}: {error}") from None


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """Return (trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Copy the trainable parameters: all that changes during training, so all a checkpoint needs."""
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def load_trainable_state(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    parameters = dict(model.named_parameters())
    missing = [name for name in state if name not in parameters]
    if missing:
        raise InputError(f"checkpoint does not match the model: {len(missing)} unknown parameters, e.g. {missing[0]}")
    with torch.no_grad():
        for name, value in state.items():
            parameters[name].copy_(value)


def merge(model: torch.nn.Module, full: bool) -> torch.nn.Module:
    """Fold the LoRA matrices into the base weights, so inference costs the same as the base model."""
    if full:
        return model
    return model.merge_and_unload()
