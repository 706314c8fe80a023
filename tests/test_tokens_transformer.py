"""The transformer token student: cut from a tiny token teacher, trained per word with the seed loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from bert2sk.errors import InputError
from bert2sk.tokens.decode import decode_iob2
from bert2sk.tokens.loop import token_distillation_loss
from bert2sk.tokens.metrics import token_fidelity
from bert2sk.tokens.teacher import TokenTeacher
from bert2sk.tokens.transformer import TokenTransformerStudent

from .test_tokens_fixtures import tagged_sentences, tiny_token_teacher  # noqa: F401


def test_loss_is_per_word_and_ignores_other_pieces():
    z_s = torch.randn(2, 5, 3)
    z_t = torch.randn(2, 6, 3)  # the batch is narrower than the stored targets: cut to its width
    labels = torch.tensor([[-100, 0, -100, 2, -100, -100], [-100, 1, -1, -100, -100, -100]])
    got = token_distillation_loss(z_s, z_t, labels, alpha=0.5, temperature=2.0)
    from bert2sk.teacher.losses import distillation_loss

    rows = torch.tensor([[0, 1], [0, 3], [1, 1], [1, 2]])
    want = distillation_loss(z_s[rows[:, 0], rows[:, 1]], z_t[rows[:, 0], rows[:, 1]], torch.tensor([0, 2, 1, -1]),
                             "multiclass", alpha=0.5, temperature=2.0)
    assert float(got) == pytest.approx(float(want))
    z_t2 = z_t.clone()
    z_t2[labels == -100] = 99.0  # what sits on ignored pieces must not matter
    assert float(token_distillation_loss(z_s, z_t2, labels)) == pytest.approx(float(got))


def test_student_is_cut_and_follows_teacher(tiny_token_teacher):  # noqa: F811
    teacher = TokenTeacher.from_pretrained(tiny_token_teacher, dtype="fp32")
    train, test = tagged_sentences(160, seed=11), tagged_sentences(40, seed=12)
    z = teacher.predict_word_logits(train.tokens)
    student = TokenTransformerStudent(str(tiny_token_teacher), layers=1, epochs=3, learning_rate=3e-3,
                                      max_length=32, dtype="fp32", threads=1, seed=0).fit(train.tokens, None, z)
    assert student.layers_ == [0] and student.model_.config.num_hidden_layers == 1
    assert student.size_bytes_ < teacher.size_bytes
    assert len(student.history_) == 3 and "eval_entity_f1_vs_teacher" in student.history_[0]
    t_tags = teacher.predict_tags(test.tokens)
    s_tags = student.predict(test.tokens)
    assert token_fidelity(t_tags, s_tags)["word_fidelity"] > 0.85
    assert [len(s) for s in s_tags] == [len(s) for s in test.tokens]
    assert s_tags == [decode_iob2(a, student.tag_names_) for a in student.predict_word_logits(test.tokens)]


def test_contract_and_bad_input(tiny_token_teacher):  # noqa: F811
    s = TokenTransformerStudent(layers=1, alpha=0.2)
    assert clone(s).get_params() == s.get_params()
    with pytest.raises(NotFittedError):
        s.predict([["a"]])
    with pytest.raises(InputError, match="teacher="):
        s.fit([["a"]], teacher_logits=[np.zeros((1, 7))])
    with pytest.raises(InputError, match="pass teacher_logits"):
        TokenTransformerStudent(str(tiny_token_teacher)).fit([["a"]])
    with pytest.raises(InputError, match=r"needs \(1, 7\)"):
        TokenTransformerStudent(str(tiny_token_teacher)).fit([["a"]], teacher_logits=[np.zeros((2, 7))])
