import logging

import pytest
import torch

from textrnn import ConfigError, LanguageModel
from textrnn.generation import filter_logits

from conftest import tiny_lm


@pytest.fixture
def lm(char_tok):
    return LanguageModel(tiny_lm(char_tok.get_vocab_size()).eval(), char_tok)


def test_same_seed_gives_the_same_text(lm):
    a = lm.generate("ANNA:", max_new_tokens=40, seed=3)
    b = lm.generate("ANNA:", max_new_tokens=40, seed=3)
    c = lm.generate("ANNA:", max_new_tokens=40, seed=4)
    assert a == b and a != c


def test_samples_start_with_the_prompt_and_have_the_asked_length(lm):
    texts = lm.generate("ANNA:", max_new_tokens=25, seed=0, num_samples=3)
    assert len(texts) == 3
    assert all(t.startswith("ANNA:") and len(t) == len("ANNA:") + 25 for t in texts)


def test_samples_in_a_batch_differ(lm):
    texts = lm.generate("ANNA:", max_new_tokens=30, seed=0, num_samples=4)
    assert len(set(texts)) > 1


def test_greedy_equals_top_k_one_and_temperature_zero(lm):
    greedy = lm.generate("BORIS:", max_new_tokens=20, greedy=True)
    assert lm.generate("BORIS:", max_new_tokens=20, top_k=1, seed=5) == greedy
    assert lm.generate("BORIS:", max_new_tokens=20, temperature=0) == greedy


def test_stop_string_cuts_the_sample(lm):
    full = lm.generate("A", max_new_tokens=60, seed=1)[0][1:]
    stop = full[10:12]
    cut = lm.generate("A", max_new_tokens=60, seed=1, stop=[stop])[0][1:]
    assert cut == full[: full.find(stop)]


def test_streaming_yields_the_same_text(lm):
    pieces = []
    text = lm.generate("A", max_new_tokens=30, seed=2, on_token=pieces.append)[0]
    assert "A" + "".join(pieces) == text


def test_unseen_prompt_characters_warn_instead_of_crashing(lm, caplog):
    with caplog.at_level(logging.WARNING, logger="textrnn"):
        out = lm.generate("Ж!", max_new_tokens=5, seed=0)
    assert out[0].startswith("Ж!") and "never saw" in caplog.text


def test_never_emits_padding_or_unknown(lm):
    text = lm.generate("", max_new_tokens=200, seed=0, temperature=5.0)[0]
    assert "<pad>" not in text and "<unk>" not in text


@pytest.mark.parametrize("bad", [dict(temperature=-1), dict(top_p=0), dict(top_p=1.5),
                                 dict(max_new_tokens=0), dict(top_k=-2), dict(num_samples=0),
                                 dict(temperature=float("nan"))])
def test_bad_sampling_settings_are_refused(lm, bad):
    with pytest.raises(ConfigError):
        lm.generate("A", **{"max_new_tokens": 5, **bad})


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = torch.isfinite(filter_logits(logits, 0, 0.75))
    assert kept.tolist() == [[True, True, False, False]]
    kept = torch.isfinite(filter_logits(logits, 2, 1.0))
    assert kept.tolist() == [[True, True, False, False]]


def test_evaluate_reports_loss_bpc_and_perplexity(lm, text):
    m = lm.evaluate(text[:500])
    assert m["tokens"] == 499 and m["chars"] == 500
    assert m["perplexity"] == pytest.approx(torch.tensor(m["loss"]).exp().item(), rel=1e-6)
    assert m["bpc"] == pytest.approx(m["loss"] * 499 / 500 / 0.6931471805599453, rel=1e-6)
