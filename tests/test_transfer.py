import pytest
import torch

import textrnn
from textrnn import (CheckpointError, ConfigError, DataConfig, LabelledDataConfig, ModelConfig,
                     TrainConfig, load, save_pretrained, train_tokenizer)
from textrnn.models.dropout import LockedDropout
from textrnn.tokenization import encode
from textrnn.training import make_optimizer, slanted_triangular
from textrnn.tokenization import extend_tokenizer
from textrnn.transfer import classifier_from_lm, resize_vocab

from conftest import make_text, model_config, tiny_lm


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_vocab_extension_keeps_old_ids_and_rows(kind):
    old_tok = train_tokenizer(kind, ["the cat sat on the mat\n"], vocab_size=40)
    new_tok = extend_tokenizer(old_tok, kind, ["zebras quietly graze\n"], vocab_size=60)
    old_vocab, new_vocab = old_tok.get_vocab(), new_tok.get_vocab()
    assert all(new_vocab[t] == i for t, i in old_vocab.items())
    assert len(new_vocab) > len(old_vocab)
    assert 1 not in encode(new_tok, "zebras")  # no <unk> any more
    model = tiny_lm(len(old_vocab), tie_weights=True, embed_dim=16, hidden_size=16)
    bigger = resize_vocab(model, len(new_vocab))
    old_rows = model.encoder.embed.weight
    new_rows = bigger.encoder.embed.weight
    assert torch.equal(new_rows[: len(old_vocab)], old_rows)
    torch.testing.assert_close(new_rows[len(old_vocab):], old_rows.mean(0).expand_as(new_rows[len(old_vocab):]))
    assert torch.equal(bigger.head.proj.bias[: len(old_vocab)], model.head.proj.bias)


def test_classifier_encoder_equals_the_language_models_right_after_init():
    lm = tiny_lm(30, embed_dim=16, hidden_size=16).eval()
    clf = classifier_from_lm(lm, model_config("classifier", pooling="concat", dropout=0.0), ["neg", "pos"]).eval()
    ids = torch.randint(2, 30, (3, 9))
    torch.testing.assert_close(clf.encoder(ids)[0], lm.encoder(ids)[0], rtol=0, atol=0)


def test_discriminative_learning_rates_land_in_param_groups():
    model = tiny_lm(30, num_layers=3)
    opt = make_optimizer(model, TrainConfig(lr=2.6 ** 4, max_steps=1, discriminative_lr=2.6))
    lrs = [g["lr"] for g in opt.param_groups]
    assert lrs == pytest.approx([1.0, 2.6, 2.6 ** 2, 2.6 ** 3, 2.6 ** 4])  # embedding, 3 layers, head
    n = sum(len(g["params"]) for g in opt.param_groups)
    assert n == len(list(model.parameters()))


def test_slanted_triangular_rises_then_decays():
    assert slanted_triangular(0.0) == pytest.approx(1 / 32)
    assert slanted_triangular(0.1) == pytest.approx(1.0)
    assert slanted_triangular(1.0) == pytest.approx(1 / 32)
    assert slanted_triangular(0.05) < slanted_triangular(0.1) > slanted_triangular(0.5)


@pytest.mark.parametrize("module", ["locked", "weight_drop"])
def test_dropouts_are_off_in_eval_and_repeatable_with_a_seed(module):
    if module == "locked":
        m, x = LockedDropout(0.5), torch.ones(2, 5, 4)
        out = m.eval()(x)
        assert torch.equal(out, x)
        m.train()
        torch.manual_seed(3)
        a = m(x)
        torch.manual_seed(3)
        assert torch.equal(a, m(x))
        assert torch.equal(a[:, 0], a[:, 3])  # one mask for every time step
        return
    model = tiny_lm(20, weight_drop=0.5)
    ids = torch.randint(2, 20, (2, 6))
    model.eval()
    assert torch.equal(model(ids)[0], model(ids)[0])
    model.train()
    torch.manual_seed(5)
    a = model(ids)[0]
    torch.manual_seed(5)
    assert torch.equal(a, model(ids)[0])
    torch.manual_seed(6)
    assert not torch.equal(a, model(ids)[0])


def _lm_run(tmp_path, text_path):
    data = DataConfig(data=str(text_path), tokenizer="word", vocab_size=200)
    model = model_config(embed_dim=16, hidden_size=16, num_layers=2, dropout=0.0)
    train = TrainConfig(batch_size=4, bptt=16, max_steps=6, eval_every=3, save_every=3, device="cpu")
    return textrnn.train("lm", data, model, train, tmp_path / "lm", show_progress=False)["run_dir"]


def _watch_classifier_from_lm(tmp_path, reviews, monkeypatch, train, method, record):
    """Train a classifier from a small LM; `record(trainer)` runs after each call of the
    Trainer's `method`."""
    text = tmp_path / "corpus.txt"
    text.write_text(make_text(100))
    lm_dir = _lm_run(tmp_path, text)
    from textrnn.training import run
    original = run.Trainer

    def watched(self, *args):
        getattr(original, method)(self, *args)
        record(self)
    monkeypatch.setattr(run, "Trainer", type("Watch", (original,), {method: watched}))
    textrnn.train("classifier", LabelledDataConfig(data=str(reviews), val_fraction=0.25),
                  model_config("classifier", pooling="concat", dropout=0.0), train, tmp_path / "clf",
                  show_progress=False, init_from=lm_dir)


def test_frozen_groups_stay_fixed_until_unfrozen(tmp_path, reviews, monkeypatch):
    train = TrainConfig(batch_size=8, lr=1e-2, epochs=3, eval_every=1000, save_every=1000,
                        gradual_unfreezing=True, discriminative_lr=2.6, device="cpu")
    snapshots = []
    def record(t):
        snapshots.append((t.state.epoch, {n: p.detach().clone() for n, p in t.model.named_parameters()}))
    _watch_classifier_from_lm(tmp_path, reviews, monkeypatch, train, "start_epoch", record)
    epochs = {}
    for epoch, snap in snapshots:
        epochs.setdefault(epoch, snap)  # the weights at the start of each epoch
    same = lambda a, b, prefix: all(torch.equal(a[n], b[n]) for n in a if n.startswith(prefix))
    # Epoch 0 trains only the head; epoch 1 adds the top LSTM layer; epoch 2 the next one.
    assert same(epochs[0], epochs[1], "encoder.")
    assert not same(epochs[0], epochs[1], "head.")
    assert same(epochs[1], epochs[2], "encoder.layers.0.") and same(epochs[1], epochs[2], "encoder.embed")
    assert not same(epochs[1], epochs[2], "encoder.layers.1.")


def test_an_unfrozen_group_ramps_its_rate_up_over_the_unfreeze_warmup(tmp_path, reviews, monkeypatch):
    train = TrainConfig(batch_size=4, lr=1e-2, epochs=3, eval_every=1000, save_every=1000,
                        schedule="constant", warmup_steps=0, gradual_unfreezing=True,
                        unfreeze_warmup=1.0, device="cpu")
    rates = []
    def record(t):
        rates.append((t.state.epoch, [g["lr"] for g in t.opt.param_groups]))
    _watch_classifier_from_lm(tmp_path, reviews, monkeypatch, train, "set_lr", record)
    top_layer = [r[-2] for e, r in rates if e == 1]  # unfrozen in epoch 1, ramped over it
    n = len(top_layer)
    ramp = [1e-2 * (k + 1) / n for k in range(n)]
    assert n > 1 and top_layer == pytest.approx(ramp)
    assert all(r[-1] == 1e-2 for _, r in rates)  # the head trains from the start, no ramp
    assert [r[-3] for e, r in rates if e == 2] == pytest.approx(ramp)
    assert all(r[-2] == 1e-2 for e, r in rates if e == 2)


def test_continuing_an_lm_with_and_without_vocab_extension(tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_text(make_text(100))
    lm_dir = _lm_run(tmp_path, text)
    new_text = tmp_path / "new.txt"
    new_text.write_text(make_text(100, seed=1).replace("boat", "zeppelin"))
    train = TrainConfig(batch_size=4, bptt=16, max_steps=3, eval_every=3, save_every=3, device="cpu")
    for extend in (False, True):
        out = tmp_path / f"continued-{extend}"
        textrnn.train("lm", DataConfig(data=str(new_text), extend_vocab=extend), ModelConfig(), train,
                      out, show_progress=False, init_from=lm_dir)
        lm = load(out)
        assert lm.config.encoder.hidden_size == 16  # the architecture comes from the init run
        assert ("zeppelin" in "".join(lm.tokenizer.get_vocab())) == extend


def test_a_lowercasing_html_stripping_lm_tokenizer_carries_over_to_its_classifier(tmp_path, reviews):
    text = tmp_path / "corpus.txt"
    text.write_text(make_text(100).replace("\n\n", "<br /><br />"))
    data = DataConfig(data=str(text), tokenizer="word", vocab_size=200, lowercase=True, strip_html=True)
    model = model_config(embed_dim=8, hidden_size=8, num_layers=1, dropout=0.0)
    train = TrainConfig(batch_size=4, bptt=16, max_steps=2, eval_every=2, save_every=2, device="cpu")
    textrnn.train("lm", data, model, train, tmp_path / "lm", show_progress=False)
    vocab = [t for t in load(tmp_path / "lm").tokenizer.get_vocab() if t[0] != "<"]
    assert "▁anna" in vocab and all(t == t.lower() for t in vocab)
    assert not any("br" in t for t in vocab)
    clf = textrnn.train("classifier", LabelledDataConfig(data=str(reviews), val_fraction=0.25,
                                                         max_length=3),
                        ModelConfig(), TrainConfig(batch_size=8, epochs=1, device="cpu"),
                        tmp_path / "clf", show_progress=False, init_from=tmp_path / "lm")
    tok = load(clf["run_dir"]).tokenizer
    assert encode(tok, "The SEA<br />is calm") == encode(tok, "the sea is calm")
    assert encode(tok, "the sea is calm") == encode(tok, "sea is calm")  # the end is kept


def test_init_from_bad_folders_is_refused(tmp_path, reviews):
    data = LabelledDataConfig(data=str(reviews))
    train = TrainConfig(epochs=1, device="cpu")
    with pytest.raises(CheckpointError, match="not a textrnn run|no config"):
        textrnn.train("classifier", data, ModelConfig(), train, tmp_path / "a", init_from=tmp_path)
    clf_dir = tmp_path / "clf"
    cfg = model_config("classifier", vocab_size=10, labels=["a", "b"], embed_dim=4, hidden_size=4)
    from textrnn import build_model
    save_pretrained(clf_dir, build_model(cfg), train_tokenizer("char", ["abcdefgh"]))
    with pytest.raises(ConfigError, match="not a language model"):
        textrnn.train("classifier", data, ModelConfig(), train, tmp_path / "b", init_from=clf_dir)
    lm_dir = tmp_path / "lm"
    save_pretrained(lm_dir, tiny_lm(10), train_tokenizer("char", ["abcdefgh"]))
    with pytest.raises(ConfigError, match="differs"):
        textrnn.train("classifier", LabelledDataConfig(data=str(reviews), tokenizer="word"),
                      ModelConfig(), train, tmp_path / "c", init_from=lm_dir)
