import pytest
from tokenizers import Tokenizer

from textrnn import ConfigError, load_tokenizer, train_tokenizer
from textrnn.tokenization import PAD_ID, UNK_ID, decode, encode

SAMPLE = "ROMEO:\nHello, world!  It's  a café.\n\nJULIET:\n\tNo -- never… 日本語 😀\n"


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_round_trip_is_exact_for_seen_text(kind):
    tok = train_tokenizer(kind, [SAMPLE * 3], vocab_size=60)
    assert decode(tok, encode(tok, SAMPLE)) == SAMPLE


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_empty_string_encodes_to_nothing(kind):
    tok = train_tokenizer(kind, [SAMPLE], vocab_size=60)
    assert encode(tok, "") == []
    assert decode(tok, []) == ""


def test_char_keeps_every_unicode_character_as_one_token():
    tok = train_tokenizer("char", [SAMPLE])
    assert len(encode(tok, "é日😀")) == 3
    assert tok.get_vocab_size() == len(set(SAMPLE)) + 2  # + <pad>, <unk>


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_unseen_text_maps_to_unknown_token(kind):
    tok = train_tokenizer(kind, [SAMPLE], vocab_size=60)
    assert UNK_ID in encode(tok, "Ж")


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_special_tokens_have_fixed_ids(kind):
    tok = train_tokenizer(kind, [SAMPLE], vocab_size=60)
    assert tok.token_to_id("<pad>") == PAD_ID and tok.token_to_id("<unk>") == UNK_ID


def test_word_vocab_size_is_respected():
    tok = train_tokenizer("word", [SAMPLE * 2], vocab_size=10)
    assert tok.get_vocab_size() <= 10


def test_saved_tokenizer_loads_with_plain_tokenizers(tmp_path):
    tok = train_tokenizer("bpe", [SAMPLE], vocab_size=60)
    tok.save(str(tmp_path / "tokenizer.json"))
    plain = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert plain.encode(SAMPLE, add_special_tokens=False).ids == encode(tok, SAMPLE)
    assert encode(load_tokenizer(tmp_path / "tokenizer.json"), SAMPLE) == encode(tok, SAMPLE)


@pytest.mark.parametrize("keep_end", [True, False])
def test_truncation_keeps_the_chosen_end_after_a_save(tmp_path, keep_end):
    tok = train_tokenizer("word", ["a b c d e"], vocab_size=20, max_length=2, keep_end=keep_end)
    tok.save(str(tmp_path / "tokenizer.json"))
    full = encode(train_tokenizer("word", ["a b c d e"], vocab_size=20), "a b c d e")
    kept = full[-2:] if keep_end else full[:2]
    assert encode(tok, "a b c d e") == encode(load_tokenizer(tmp_path / "tokenizer.json"), "a b c d e") == kept


def test_unknown_kind_is_refused():
    with pytest.raises(ConfigError, match="unknown tokenizer"):
        train_tokenizer("bytes", [SAMPLE])
