"""Fine-tuning: LoRA SFT (then DPO) on Ray Train."""
