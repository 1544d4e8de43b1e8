import pytest
from tokenizers import Tokenizer

from textrnn import ConfigError, load_tokenizer, train_tokenizer
from textrnn.tokenization import PAD_ID, UNK_ID, decode, encode, with_leading_space

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


# U+2581 is the "▁" that word and BPE tokenizers write for a space; a literal one in the
# text must still decode as itself, and so must the private characters that escape it.
MARKER_TEXTS = ["a\u2581b c", "\u2581", "\u2581start", "end\u2581", "\u2581\u2581", " \u2581 ",
                "\u2581 \u2581", "x \u2581\u2581 y", "\n\u2581\n", "\t\u2581\t", "▁word ▁ word▁",
                "\ufdd0", "\ufdd0\ufdd1", "\ufdd0\ufdd2\u2581", "\ufdd1\ufdd2", "\ue000\u2581\ue001",
                "\U0010fffd\u2581", "  two  spaces\u2581  "]
MARKER_CORPUS = "\n".join(MARKER_TEXTS)


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_round_trip_is_exact_for_text_holding_the_space_marker(kind):
    tok = train_tokenizer(kind, [MARKER_CORPUS * 2], vocab_size=300)
    for text in MARKER_TEXTS + [MARKER_CORPUS]:
        assert decode(tok, encode(tok, text)) == text, repr(text)


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_space_marker_round_trip_survives_save_load_and_leading_space(tmp_path, kind):
    seen = MARKER_CORPUS + "\n " + MARKER_CORPUS.replace("\n", "\n ")  # each text after a space too
    tok = train_tokenizer(kind, [seen], vocab_size=300, lowercase=True)
    tok.save(str(tmp_path / "tokenizer.json"))
    plain = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    for text in MARKER_TEXTS:
        assert plain.decode(plain.encode(text, add_special_tokens=False).ids) == text.lower()
    spaced = with_leading_space(load_tokenizer(tmp_path / "tokenizer.json"))
    for text in MARKER_TEXTS:
        assert decode(spaced, encode(spaced, text)) == " " + text.lower(), repr(text)


@pytest.mark.parametrize("kind", ["word", "bpe"])
def test_a_grown_vocabulary_still_round_trips_the_space_marker(kind):
    from textrnn.tokenization import extend_tokenizer

    tok = extend_tokenizer(train_tokenizer(kind, ["the cat sat\n"], vocab_size=40), kind,
                           [MARKER_CORPUS], vocab_size=300)
    for text in MARKER_TEXTS:
        assert decode(tok, encode(tok, text)) == text, repr(text)


def test_a_tokenizer_saved_by_0_1_0_loads_and_reads_as_before():
    from pathlib import Path

    tok = load_tokenizer(Path(__file__).parent / "fixtures/v0_1_0/classifier/tokenizer.json")
    ids = encode(tok, "a great film")
    assert UNK_ID not in ids and decode(tok, ids) == " a great film"


@pytest.mark.parametrize("kind", ["char", "word"])
def test_decoding_token_by_token_gives_the_text_with_the_space_marker(kind):
    # Generation streams one token's text at a time, so an escape must never straddle tokens.
    tok = train_tokenizer(kind, [MARKER_CORPUS], vocab_size=300)
    ids = encode(tok, MARKER_CORPUS)
    assert "".join(decode(tok, [i]) for i in ids) == MARKER_CORPUS


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_special_tokens_written_in_a_text_are_read_as_its_characters(kind):
    tok = train_tokenizer(kind, [SAMPLE * 3 + " <pad> <unk> pad unk < > a b x y"], vocab_size=80)
    for text in ["a <pad> b", "<unk>", "x<pad>y <unk>"]:
        ids = encode(tok, text)
        assert PAD_ID not in ids, (kind, text, ids)
        if kind == "char":  # every character was seen: it reads back exactly, <unk> included
            assert UNK_ID not in ids and decode(tok, ids) == text


def test_a_lone_surrogate_is_refused_in_one_line():
    from textrnn import DataError
    from textrnn.tokenization import check_characters
    assert check_characters("café 日本 😀") == "café 日本 😀"
    with pytest.raises(DataError, match=r"lone surrogate \(U\+D800\) at character 3"):
        check_characters("ab\ud800c")
