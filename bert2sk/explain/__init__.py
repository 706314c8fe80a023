"""Explanations as data: LIME and SHAP behind one :class:`Attribution` type.

>>> from bert2sk.explain import tokenize
>>> tokenize("Fine.<br />Really")[0]
['Fine', 'Really']
"""

from __future__ import annotations

from .agreement import agreement, pair_agreement
from .attribution import Attribution, tokenize
from .global_views import figure_svg, linear_terms, shap_summary, tree_rules, tree_svg
from .methods import (
    METHODS,
    auto_method,
    explain,
    explain_labels,
    explain_lime,
    explain_linear,
    explain_shap,
    explain_tree,
)

__all__ = [
    "Attribution", "tokenize", "explain", "explain_labels", "explain_lime", "explain_linear", "explain_tree",
    "explain_shap", "auto_method", "METHODS", "linear_terms", "tree_rules", "tree_svg", "shap_summary",
    "figure_svg", "agreement", "pair_agreement",
]
