"""The teacher: scoring (model), its logit cache, and its fine-tuning trainer."""

from .cache import LogitCache, text_hash
from .callbacks import Callback, TrainerState
from .labelling import label_file, label_texts
from .loop import FitResult, fit_classifier, seed_everything
from .losses import classification_loss, distillation_loss
from .model import Teacher, cpu_supports_bf16, packaged_encoder_path, task_from_config
from .stored import TeacherScores, load_logits, save_logits
from .trainer import TrainingArguments, TrainResult, train_teacher

__all__ = [
    "Callback",
    "FitResult",
    "LogitCache",
    "Teacher",
    "TeacherScores",
    "TrainResult",
    "TrainerState",
    "TrainingArguments",
    "classification_loss",
    "cpu_supports_bf16",
    "distillation_loss",
    "fit_classifier",
    "label_file",
    "label_texts",
    "load_logits",
    "packaged_encoder_path",
    "save_logits",
    "seed_everything",
    "task_from_config",
    "text_hash",
    "train_teacher",
]
