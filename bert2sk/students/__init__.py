"""Students: the distilled and baseline estimators a study fits and ships.

Each kind of student lives in its own module; this package re-exports the
public ones. Classes keep ``bert2sk.students`` as their module so that
students saved by earlier versions (skops records the class path) still load.
"""

from __future__ import annotations

from .cascade import CascadeClassifier, top_two_margin
from .estimators import (
    FAMILIES,
    DistilledClassifier,
    FoldCappedCalibratedCV,
    SoftTargetClassifier,
    make_baseline,
    make_distilled,
    tree_params,
)
from .onnx import OnnxStudent, export_onnx
from .transformer import TransformerStudent

for _cls in (DistilledClassifier, SoftTargetClassifier, FoldCappedCalibratedCV):
    _cls.__module__ = __name__
del _cls

__all__ = ["DistilledClassifier", "SoftTargetClassifier", "FoldCappedCalibratedCV", "make_baseline", "make_distilled",
           "tree_params", "FAMILIES", "TransformerStudent", "OnnxStudent", "export_onnx", "CascadeClassifier",
           "top_two_margin"]
