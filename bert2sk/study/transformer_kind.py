"""Transformer students in a study: the seeds' DistilBERT route, and each model again through ONNX Runtime.

Rows it adds (every one measured like the scikit-learn students):

- ``distilled · transformer · text · kd L/N layers``: the teacher cut to ``L``
  of its ``N`` layers and distilled on the transfer set (PyTorch, the
  teacher's precision);
- the same student exported to ONNX, in fp32 and with int8 weights;
- ``teacher · onnx fp32`` / ``teacher · onnx int8``: the teacher itself
  through ONNX Runtime, so runtime and compression gains are measured apart
  from what distillation buys.

Options (``run_study(options={"transformer": {...}})``): ``layers``,
``vocabulary`` ("teacher", or "transfer": only the word pieces the transfer set uses),
``encoder`` (None: cut from the teacher; a pretrained encoder folder, or
"packaged", to start from it instead: then stored teacher scores are enough,
and the teacher's ONNX rows are left out when there is no teacher model),
``max_length`` (None: the teacher's; with stored scores and no model, 128),
``max_texts`` (None: every transfer text; else a seeded sample of this many),
``epochs`` (2), ``alpha`` (0.5), ``temperature`` (2.0), ``batch_size`` (32),
``learning_rate`` (1e-4), ``onnx`` (True: the student's ONNX rows),
``teacher_onnx`` (True), and ``students``: a list of overrides, one transformer
student each (e.g. ``[{"layers": 3}, {"layers": 1}]``), so students of several
depths land on the one frontier; every other option is shared by all of them.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from typing import Any

from .specs import FeatureSet, StudentSpec, StudyContext, register_kind

__all__ = ["TransformerKind", "OnnxSpec", "transformer_kind_label"]

logger = logging.getLogger(__name__)

_DEFAULTS = {"layers": None, "vocabulary": "teacher", "encoder": None, "max_length": None, "max_texts": None,
             "epochs": 2, "alpha": 0.5,
             "temperature": 2.0, "batch_size": 32,
             "learning_rate": 1e-4, "onnx": True, "teacher_onnx": True}
_SHARED_ONLY = ("teacher_onnx",)


def _onnx_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnxscript", "onnx"))


def transformer_kind_label(teacher_layers: int, **options: Any) -> str:
    """The kind part of a transformer student's name in a study, from the study's transformer options.

    ``"distilled · transformer · text · " + label`` is the student's row;
    ``" · onnx int8"`` after it, its int8 export's — names to give a cascade.

    Examples
    --------
    >>> transformer_kind_label(6, layers=3, vocabulary="transfer")
    'kd 3/6 layers · transfer vocab'
    >>> transformer_kind_label(6, encoder="packaged")
    'kd 3/6 layers · encoder start'
    """
    from ..students.transformer import pick_layers

    o = {**_DEFAULTS, **options}
    kept = pick_layers(teacher_layers, o["layers"])
    return (f"kd {len(kept)}/{teacher_layers} layers" + (" · encoder start" if o["encoder"] is not None else "")
            + (" · transfer vocab" if o["vocabulary"] == "transfer" else ""))


@dataclass(frozen=True)
class OnnxSpec(StudentSpec):
    """A model already in the study (the teacher, or a fitted transformer student) run through ONNX Runtime."""

    source: str = "teacher"  # "teacher" or the name of a fitted spec
    int8: bool = False

    def fit(self, feats: FeatureSet, ctx: StudyContext) -> Any:
        from ..students.onnx import OnnxStudent, export_onnx

        if self.source == "teacher":
            t = ctx.teacher
            model, tokenizer, max_length, truncation = t.model, t.tokenizer, t.max_length, t.truncation
        else:
            st = ctx.fitted[self.source]
            model, tokenizer, max_length, truncation = st.model_, st.tokenizer_, st.max_length, st.truncation
        folder = tempfile.mkdtemp(prefix="bert2sk-onnx-")
        card = {"task": ctx.task, "label_names": list(ctx.train.label_names), "max_length": max_length,
                "truncation": truncation}
        export_onnx(model, tokenizer, f"{folder}/model", int8=self.int8, card=card)
        student = OnnxStudent.load(f"{folder}/model")
        # the exported files live as long as the scorer does (a saved study copies them)
        weakref.finalize(student, shutil.rmtree, folder, True)
        return student


class TransformerKind:
    """Students that read raw text with a smaller transformer cut from the teacher."""

    name = "transformer"
    families = ("transformer",)
    needs_model = True
    needs_embeddings = False

    @staticmethod
    def needs_model_with(options: dict[str, Any]) -> bool:
        """Cut from the teacher: its model; started from a pretrained encoder: only its scores."""
        variants = options.get("students") or [{}]
        if not isinstance(variants, (list, tuple)) or not all(isinstance(v, dict) for v in variants):
            variants = [{}]  # malformed: specs() names the problem once the study reaches this kind
        return any({**options, **v}.get("encoder") is None for v in variants)

    def featurize(self, ctx: StudyContext) -> FeatureSet:
        dev = ctx.dev.texts if ctx.tune else None
        return FeatureSet(None, list(ctx.train.texts), list(ctx.test.texts), dev)

    def _settings(self, ctx: StudyContext) -> list[dict[str, Any]]:
        """One settings dict per transformer student (``students`` overrides, or the shared options alone)."""
        from ..errors import InputError

        shared = dict(ctx.options.get(self.name, {}))
        variants = shared.pop("students", None) or [{}]
        if not isinstance(variants, (list, tuple)) or not all(isinstance(v, dict) for v in variants):
            raise InputError("the transformer option 'students' is a list of dicts of options, one per student, "
                             "e.g. [{'layers': 3}, {'layers': 1}]")
        out = []
        for v in variants:
            unknown = (set(shared) | set(v)) - set(_DEFAULTS)
            if unknown:
                raise InputError(f"unknown transformer student options {sorted(unknown)}; choose from "
                                 f"{sorted(_DEFAULTS) + ['students']}")
            per_student = sorted(set(v) & set(_SHARED_ONLY))
            if per_student:
                raise InputError(f"{per_student} apply to the whole study: set them beside 'students', not in it")
            out.append({**_DEFAULTS, **shared, **v})
        return out

    def specs(self, ctx: StudyContext) -> list[StudentSpec]:
        settings = self._settings(ctx)
        out: list[StudentSpec] = []
        for o in settings:
            out += self._student_specs(ctx, o)
        names = [s.name for s in out]
        if len(set(names)) < len(names):
            from ..errors import InputError

            raise InputError(f"two transformer students would share a name ({names}); give them different "
                             "layers, vocabulary or encoder")
        if any(o["onnx"] or o["teacher_onnx"] for o in settings) and not _onnx_available():
            return out
        has_model = getattr(ctx.teacher, "can_score_new_text", True)
        for int8 in (False, True) if settings[0]["teacher_onnx"] and has_model else ():
            precision = "onnx int8" if int8 else "onnx fp32"
            out.append(OnnxSpec("teacher", "transformer", precision, "text", label=f"teacher · {precision}",
                                source="teacher", int8=int8))
        return out

    @staticmethod
    def _student_specs(ctx: StudyContext, o: dict[str, Any]) -> list[StudentSpec]:
        """One transformer student and, when ONNX Runtime is installed and ``onnx`` is on, its two ONNX rows."""
        from ..students.transformer import TransformerStudent, pick_layers, start_point

        t = ctx.teacher
        has_model = getattr(t, "can_score_new_text", True)
        if o["encoder"] is None:
            n_layers = int(t.model.config.num_hidden_layers)
        else:
            from transformers import AutoConfig

            n_layers = int(AutoConfig.from_pretrained(start_point(o["encoder"])).num_hidden_layers)
        kept = pick_layers(n_layers, o["layers"])
        kind = transformer_kind_label(n_layers, **o)
        max_length = o["max_length"] or getattr(t, "max_length", 128)

        def make() -> TransformerStudent:
            return TransformerStudent(
                teacher=t.source_path if has_model else None, encoder=o["encoder"],
                task=ctx.task if o["encoder"] is not None else None, layers=kept, vocabulary=o["vocabulary"],
                alpha=o["alpha"], temperature=o["temperature"],
                epochs=o["epochs"], learning_rate=o["learning_rate"], batch_size=o["batch_size"],
                max_length=max_length, max_texts=o["max_texts"], truncation=getattr(t, "truncation", "head+tail"),
                dtype=getattr(t, "dtype", "auto"), seed=ctx.seed, progress=ctx.progress)

        student = StudentSpec("distilled", "transformer", kind, "text", make)
        out: list[StudentSpec] = [student]
        if (o["onnx"] or o["teacher_onnx"]) and not _onnx_available():
            logger.warning("ONNX rows left out: install bert2sk[onnx] (onnxruntime, onnxscript) to measure them")
            return out
        for int8 in (False, True) if o["onnx"] else ():
            precision = "onnx int8" if int8 else "onnx fp32"
            out.append(OnnxSpec("distilled", "transformer", f"{kind} · {precision}", "text",
                                label=f"{student.name} · {precision}", source=student.name, int8=int8))
        return out


register_kind(TransformerKind())
