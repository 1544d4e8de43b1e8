"""The adaptive softmax head: a proper distribution, a loss that matches it, and every path
a language model takes (sampling, saving, growing the vocabulary, continuing training)."""
import pytest
import torch
from torch.nn import functional as F

from textrnn import (ConfigError, DataConfig, LanguageModel, LMHeadConfig, ModelConfig, TrainConfig, build_model,
                     load, load_pretrained, save_pretrained, train, train_tokenizer)
from textrnn.inference.stepper import lm_stepper
from textrnn.models.adaptive import AdaptiveLMHead
from textrnn.transfer import resize_vocab

from conftest import make_text, model_config, tiny_lm

CUTS = [6, 14]  # shortlist of 6 ids, then tails [6, 14) and [14, 30)


def adaptive_lm(vocab=30, **kw):
    return tiny_lm(vocab, adaptive_cutoffs=CUTS, **kw)


def test_log_probabilities_sum_to_one_over_the_vocabulary():
    model = adaptive_lm().eval()
    scores, _ = model(torch.randint(0, 30, (3, 7)))  # (B, T, vocab)
    assert isinstance(model.head, AdaptiveLMHead) and scores.shape == (3, 7, 30)
    torch.testing.assert_close(scores.logsumexp(-1), torch.zeros(3, 7), atol=1e-5, rtol=0)


def test_the_training_loss_equals_cross_entropy_of_the_full_distribution():
    model = adaptive_lm(tie_weights=True, embed_dim=16, hidden_size=16).eval()
    ids, targets = torch.randint(0, 30, (4, 9)), torch.arange(36).reshape(4, 9) % 30  # every cluster
    scores, _ = model(ids)
    expected = F.cross_entropy(scores.flatten(0, 1), targets.flatten(), reduction="sum")
    nll, _ = model(ids, targets=targets, reduction="sum")
    torch.testing.assert_close(nll, expected, atol=1e-4, rtol=1e-5)


def test_every_part_of_the_head_learns():
    model = adaptive_lm().train()
    ids = torch.randint(0, 30, (4, 9))
    loss, _ = model(ids, targets=torch.full((4, 9), 20))  # a target in the last tail
    loss.backward()
    for name, p in model.head.named_parameters():
        if name != "down.0.weight" and name != "word_down.0.weight":  # the first tail saw nothing
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_tied_word_vectors_are_the_embedding():
    model = adaptive_lm(tie_weights=True, embed_dim=16, hidden_size=16)
    assert model.head.proj.weight is model.encoder.embed.weight


def test_cutoffs_beyond_the_vocabulary_leave_a_full_softmax():
    assert LMHeadConfig(adaptive_cutoffs=[6, 14]).tail_cutoffs(10) == [6]
    assert not isinstance(tiny_lm(5, adaptive_cutoffs=[6, 14]).head, AdaptiveLMHead)


@pytest.mark.parametrize("cuts", [[0], [8, 8], [9, 4], [-3], [2.5]])
def test_bad_cutoffs_are_refused(cuts):
    with pytest.raises(ConfigError, match="adaptive.cutoffs"):
        build_model(model_config(vocab_size=30, adaptive_cutoffs=cuts))


def test_stepper_and_sampling_read_the_adaptive_head():
    model = adaptive_lm().eval()
    ids = torch.randint(2, 30, (2, 6))
    full, _ = model(ids)
    _, state = model(ids[:, :5])
    stepper = lm_stepper(model)
    scores, _ = stepper.step(ids[:, 5], stepper.step_state(state, ids[:, :5]))
    torch.testing.assert_close(scores, full[:, 5], atol=1e-5, rtol=1e-4)


def test_an_adaptive_word_model_samples_and_round_trips_through_a_checkpoint(tmp_path):
    tok = train_tokenizer("word", [make_text()], vocab_size=100)
    model = tiny_lm(tok.get_vocab_size(), adaptive_cutoffs=[8, 16]).eval()
    save_pretrained(tmp_path, model, tok, step=3)
    loaded, _, _ = load_pretrained(tmp_path)
    ids = torch.randint(2, tok.get_vocab_size(), (2, 11))
    torch.testing.assert_close(loaded(ids)[0], model(ids)[0], rtol=0, atol=0)
    texts = LanguageModel(loaded, tok).generate("the sea", max_new_tokens=12, seed=0, num_samples=2)
    assert len(texts) == 2 and all(t.startswith("the sea") and len(t) > 7 for t in texts)


def test_growing_the_vocabulary_keeps_the_clusters_and_old_rows():
    model = adaptive_lm(tie_weights=True, embed_dim=16, hidden_size=16)
    bigger = resize_vocab(model, 36)
    assert bigger.head.bounds == [0, 6, 14, 36]
    assert torch.equal(bigger.head.proj.weight[:30], model.head.proj.weight)
    assert torch.equal(bigger.head.down[1].weight, model.head.down[1].weight)


def test_train_lm_trims_cutoffs_to_the_vocabulary_and_continues_from_it(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(make_text(100))
    training = TrainConfig(batch_size=4, bptt=16, max_steps=3, eval_every=3, save_every=3, device="cpu")
    model = model_config(embed_dim=16, hidden_size=16, num_layers=1, adaptive_cutoffs=[10, 20, 100000])
    train("lm", DataConfig(data=str(corpus), tokenizer="word", vocab_size=200), model, training,
          tmp_path / "lm", show_progress=False)
    lm = load(tmp_path / "lm")
    assert lm.config.head.adaptive_cutoffs == [10, 20]  # the last one lies beyond the vocabulary
    train("lm", DataConfig(data=str(corpus)), ModelConfig(), training, tmp_path / "more",
          show_progress=False, init_from=tmp_path / "lm")
    assert load(tmp_path / "more").config.head.adaptive_cutoffs == [10, 20]