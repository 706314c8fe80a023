"""The teacher: scoring (model), its logit cache, and its fine-tuning trainer."""

from .cache import LogitCache, text_hash
from .labelling import label_file, label_texts
from .model import Teacher, cpu_supports_bf16, packaged_encoder_path, task_from_config
from .stored import TeacherScores, load_logits, save_logits
from .trainer import TrainingArguments, TrainResult, train_teacher

__all__ = [
    "LogitCache",
    "Teacher",
    "TeacherScores",
    "TrainResult",
    "TrainingArguments",
    "cpu_supports_bf16",
    "label_file",
    "label_texts",
    "load_logits",
    "packaged_encoder_path",
    "save_logits",
    "task_from_config",
    "text_hash",
    "train_teacher",
]
