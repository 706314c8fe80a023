"""Explanations as data: LIME and SHAP behind one :class:`Attribution` type.

Single texts: :func:`explain_text` (and the per-method functions); whole
models: :func:`linear_terms`, :func:`tree_view`, :func:`shap_summary`; a whole
study, as the report shows it: :func:`explain_study`. Nothing here draws:
rendering is :mod:`bert2sk.report`'s job.

>>> from bert2sk.explain import tokenize
>>> tokenize("Fine.<br />Really")[0]
['Fine', 'Really']
"""

from __future__ import annotations

import sys
import types
from typing import Any

from ._models import linear_decision, model_kind, tree_output
from .agreement import agreement, pair_agreement
from .attribution import BR_PATTERN, Attribution, tokenize
from .global_views import TreeView, linear_terms, shap_summary, tree_rules, tree_view
from .methods import (
    METHODS,
    _warn_renamed,
    auto_method,
    explain_labels,
    explain_lime,
    explain_linear,
    explain_shap,
    explain_text,
    explain_tree,
)
from .methods import (
    explain as explain,  # deprecated alias of explain_text, kept for ``from bert2sk.explain import explain``
)
from .static import explain_static, static_terms, token_contributions
from .study import (
    AgreementResult,
    DocumentExplanations,
    GlobalView,
    StudyExplanations,
    classes_to_explain,
    explain_study,
    global_view,
    pick_documents,
)

__all__ = [
    "Attribution", "tokenize", "BR_PATTERN", "explain_text", "explain_labels", "explain_lime", "explain_linear",
    "explain_tree", "explain_shap", "explain_static", "static_terms", "token_contributions", "auto_method",
    "model_kind", "linear_decision", "tree_output", "METHODS",
    "linear_terms", "tree_rules", "tree_view",
    "TreeView", "shap_summary", "agreement", "pair_agreement", "explain_study", "pick_documents",
    "classes_to_explain", "global_view", "StudyExplanations", "DocumentExplanations", "GlobalView", "AgreementResult",
]


class _CallableModule(types.ModuleType):
    """This subpackage, still callable as the function it shadowed (``bert2sk.explain(model, text)``).

    In 0.1.0 the top-level ``bert2sk.explain`` was :func:`explain_text` until
    something imported this subpackage, and the subpackage afterwards. It is
    now always the subpackage; calling it warns and explains, for one release.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Attribution:
        _warn_renamed(stacklevel=3)
        return explain_text(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
