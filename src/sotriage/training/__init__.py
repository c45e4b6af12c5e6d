"""Training stage: LoRA or full fine-tuning with early stopping, then merging the adapter."""
