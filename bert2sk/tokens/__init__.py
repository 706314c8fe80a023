"""Token-level distillation (named entities): corpora, teacher, metrics, students, study and report."""

from .data import TokenCorpus, load_btc, load_conll, load_token_jsonl, load_tokens, repair_iob2

__all__ = ["TokenCorpus", "load_btc", "load_conll", "load_token_jsonl", "load_tokens", "repair_iob2"]
