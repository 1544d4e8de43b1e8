import logging

import pytest
import torch

from textrnn import ConfigError, LanguageModel, train_tokenizer
from textrnn.inference.sampling import SamplingConfig, choose, filter_logits
from textrnn.tokenization import PAD_ID, UNK_ID, encode

from conftest import tiny_lm, trained_tied_conv_lm


@pytest.fixture
def lm(char_tok):
    return LanguageModel(tiny_lm(char_tok.get_vocab_size()).eval(), char_tok)


def test_same_seed_gives_the_same_text(lm):
    a = lm.generate("ANNA:", max_new_tokens=40, seed=3)
    b = lm.generate("ANNA:", max_new_tokens=40, seed=3)
    c = lm.generate("ANNA:", max_new_tokens=40, seed=4)
    assert a == b and a != c


def test_sample_i_of_several_is_the_single_sample_of_seed_plus_i(lm):
    several = lm.generate("ANNA:", max_new_tokens=30, seed=7, num_samples=3, stop=["zz"])
    assert several == [lm.generate("ANNA:", max_new_tokens=30, seed=7 + i, stop=["zz"])[0] for i in range(3)]
    assert len(set(several)) == 3


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


def assert_cut_before_a_stop(cut, full, stops):
    """`cut` is `full` up to a stop string, and holds none (or is all of it, if none came)."""
    assert full.startswith(cut) and not any(s in cut for s in stops)
    assert any(full[len(cut):].startswith(s) for s in stops) or cut == full


@pytest.mark.parametrize("kind", ["char", "bpe"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_streamed_text_equals_the_returned_text_with_stop_strings(kind, seed, text):
    tok = train_tokenizer(kind, [text], vocab_size=60) if kind == "bpe" else train_tokenizer(kind, [text])
    lm = LanguageModel(tiny_lm(tok.get_vocab_size()).eval(), tok)
    full = lm.generate("A", max_new_tokens=60, seed=seed)[0][1:]
    for stops in ([full[10:12]],  # with characters as tokens, it straddles two tokens
                  [full[25:29], full[40]],  # several, of different lengths
                  [full[:1]],  # at the very start
                  [full[-1] + "\x00"],  # its start ends the text: held back, then flushed
                  ["never in the text"]):
        pieces = []
        out = lm.generate("A", max_new_tokens=60, seed=seed, stop=stops, on_token=pieces.append)
        assert_cut_before_a_stop(out[0][1:], full, stops)
        assert "".join(pieces) == out[0][1:], stops


def test_streaming_holds_back_only_what_may_start_a_stop_string(lm):
    full = lm.generate("A", max_new_tokens=40, seed=4)[0][1:]
    stop = "\x00" * 5  # never produced, and no piece starts it: nothing is held back
    pieces = []
    lm.generate("A", max_new_tokens=40, seed=4, stop=[stop], on_token=pieces.append)
    assert pieces == list(full)


@pytest.mark.parametrize("temperature", [1e-40, 1e-5])
def test_a_tiny_temperature_is_greedy(lm, temperature):
    greedy = lm.generate("BORIS:", max_new_tokens=30, greedy=True)
    assert lm.generate("BORIS:", max_new_tokens=30, temperature=temperature, seed=5) == greedy


def test_the_largest_temperature_still_samples(lm):
    greedy = lm.generate("BORIS:", max_new_tokens=30, greedy=True)
    hot = lm.generate("BORIS:", max_new_tokens=30, temperature=100, seed=5)
    assert hot == lm.generate("BORIS:", max_new_tokens=30, temperature=100, seed=5)
    assert hot != greedy and len(hot[0]) == len("BORIS:") + 30


def test_scaled_logits_cannot_overflow():
    # float32 logits near its limit, at the smallest temperature that still samples:
    # divided as they are, they overflow to inf and the probabilities become NaN.
    logits = torch.tensor([[0.0, 0.0, 3e38, -3e38, 1e38, 2.9e38]])  # (1, V): PAD, UNK, ...
    generator = torch.Generator().manual_seed(0)
    for temperature in (1e-3, 0.5, 100):
        cfg = SamplingConfig(temperature=temperature)
        picks = {choose(logits.clone(), cfg, generator).item() for _ in range(20)}
        assert picks == {2}, temperature  # the others are far below, even at 100


def _trained_tied_conv_lm(tok, text, kernel):
    ids = torch.tensor(encode(tok, text[: 8 * 33])).view(8, 33)  # (B, T + 1)
    model = trained_tied_conv_lm(tok.get_vocab_size(), kernel, ids)
    with torch.no_grad():  # and further, as a longer training could: the sampler must not care
        model.encoder.embed.weight[PAD_ID].normal_()
    return model


@torch.no_grad()
def _greedy_by_full_passes(model, ids: list[int], n: int) -> list[int]:
    """Greedy decoding that re-reads the whole sequence at every step (no stepper)."""
    seq = torch.tensor([ids])  # (1, T)
    for _ in range(n):
        logits = model(seq)[0][:, -1]  # (1, V)
        logits[:, [PAD_ID, UNK_ID]] = -float("inf")
        seq = torch.cat([seq, logits.argmax(-1, keepdim=True)], 1)
    return seq[0, len(ids):].tolist()


@pytest.mark.parametrize("kernel", [3, 5])
def test_a_trained_conv_lm_samples_as_its_full_forward_pass(char_tok, text, kernel):
    model = _trained_tied_conv_lm(char_tok, text, kernel)
    lm = LanguageModel(model, char_tok)
    for prompt in ("A", "BO"):  # shorter than the kernel: the window starts before the text
        expected = _greedy_by_full_passes(model, lm.encode_prompt(prompt), 40)
        assert lm.generate(prompt, max_new_tokens=40, greedy=True)[0] == \
            prompt + "".join(lm.pieces()[i] for i in expected)


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


def test_a_model_with_nan_weights_is_one_line_not_garbage(char_tok):
    from textrnn import CheckpointError

    model = tiny_lm(char_tok.get_vocab_size()).eval()
    with torch.no_grad():
        model.head.proj.bias[5] = float("nan")
    with pytest.raises(CheckpointError, match="NaN"):
        LanguageModel(model, char_tok).generate("ANNA:", max_new_tokens=5, seed=0)


@pytest.mark.parametrize("top_p", [1e-300, 1e-45, 1e-8])
def test_a_top_p_below_float32_s_smallest_keeps_the_likeliest_token(lm, top_p):
    got = lm.generate("ANNA:", max_new_tokens=60, seed=2, top_p=top_p)[0]
    assert got == lm.generate("ANNA:", max_new_tokens=60, greedy=True)[0]
    assert "<pad>" not in got and "<unk>" not in got
    logits = torch.log(torch.tensor([[0.1, 0.6, 0.3]]))
    assert torch.isfinite(filter_logits(logits, 0, top_p)).tolist() == [[False, True, False]]


class CountedStop(str):
    """A stop string that counts the characters a matcher reads from it."""
    reads = 0

    def __getitem__(self, key):
        got = str.__getitem__(self, key)
        CountedStop.reads += len(got)
        return got


def test_matching_a_stop_string_reads_a_bounded_number_of_characters_per_new_character():
    from textrnn.inference.stops import Growing

    stop = CountedStop("a" * 199 + "b")  # every "a" may begin it: the worst case for a matcher
    per_char = []
    for before in (1_000, 20_000):  # the reads of 1,000 new characters after a short and a long text
        sample = Growing([stop])
        sample.add("a" * before)
        CountedStop.reads = 0
        for _ in range(100):
            sample.add("a" * 10)
        per_char.append(CountedStop.reads / 1_000)
    assert per_char[1] == per_char[0]  # the text's length changes nothing
    assert per_char[1] <= 2 * len(stop)  # each open beginning advances or drops: one read each
    assert not sample.stopped and Growing([stop]).add("a" * 199 + "b")
