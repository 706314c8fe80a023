"""The teacher: scoring (model), its logit cache, and its fine-tuning trainer."""

from .model import Teacher, cpu_supports_bf16, packaged_encoder_path, task_from_config

__all__ = ["Teacher", "cpu_supports_bf16", "packaged_encoder_path", "task_from_config"]
