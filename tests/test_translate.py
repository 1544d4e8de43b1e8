"""Translation: parallel data, the encoder-decoder with attention, decoding, the run folder."""
import itertools
import json
import math
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

import textrnn
from textrnn import ParallelDataConfig, TrainConfig, cli
from textrnn.config import EncoderConfig, ModelConfig
from textrnn.inference.decoding import beam_search, greedy, length_penalty
from textrnn.nested import take
from textrnn.tasks import TranslatorHeadConfig, build_model
from textrnn.tasks import translator
from textrnn.tasks.translate import LENGTH_PENALTIES, TranslateTask
from textrnn.tasks.translator import special_ids, translate_ids
from textrnn.tokenization import PAD_ID

from test_bad_input import run_script

WORDS = {"one": "eins", "two": "zwei", "three": "drei", "dog": "hund", "cat": "katze",
         "runs": "rennt", "sleeps": "schläft", "big": "große", "small": "kleine"}


def write_pairs(folder, n=300, seed=0, target_prefix=""):
    """German-like source and English target files, word for word (each target after
    `target_prefix`), shuffled order."""
    rng = random.Random(seed)
    en = [" ".join(rng.choice(list(WORDS)) for _ in range(rng.randint(2, 6))) + " ." for _ in range(n)]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "src.txt").write_text("".join(" ".join(WORDS.get(w, w) for w in s.split()) + "\n" for s in en))
    (folder / "tgt.txt").write_text("".join(target_prefix + s + "\n" for s in en))
    return folder / "src.txt", folder / "tgt.txt"


def model_config(vocab=30, attention="bahdanau", cell="gru", **head) -> ModelConfig:
    return ModelConfig(task="translator", tokenizer="word", vocab_size=vocab,
                       encoder=EncoderConfig(cell=cell, embed_dim=16, hidden_size=16, num_layers=1, dropout=0.0),
                       head=TranslatorHeadConfig(attention=attention, **{"decoder_size": 32, **head}))


def train_small(tmp_path, out="run", resume=False, separate=False, target_prefix="", target_vocab=0,
                **train):
    src, tgt = write_pairs(tmp_path / "pairs", target_prefix=target_prefix)
    settings = dict(epochs=2, batch_size=16, lr=3e-3, eval_every=0, save_every=0, warmup_steps=0, seed=0,
                    schedule="constant")
    head = TranslatorHeadConfig(decoder_size=32)
    cfg = ModelConfig(task="translator", encoder=EncoderConfig(cell="gru", embed_dim=16, hidden_size=16,
                                                                num_layers=1, dropout=0.2), head=head)
    return textrnn.train("translator", ParallelDataConfig(data=[str(src), str(tgt)], tokenizer="word",
                                                          vocab_size=50, min_frequency=1,
                                                          separate_vocab=separate,
                                                          target_vocab=target_vocab),
                         cfg, TrainConfig(**{**settings, **train}), tmp_path / out, resume=resume,
                         show_progress=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A translator trained until it knows the toy language."""
    tmp = tmp_path_factory.mktemp("tr")
    result = train_small(tmp, epochs=40, patience=0)
    return textrnn.load(result["run_dir"]), tmp


# ---- parallel data ---------------------------------------------------------------------------

def test_two_files_a_table_and_a_hub_layout_give_the_same_pairs(tmp_path):
    src, tgt = write_pairs(tmp_path, n=5)
    pairs = textrnn.load_pairs([src, tgt])
    assert len(pairs) == 5 and pairs.targets[0].endswith(" .")
    table = tmp_path / "pairs.jsonl"
    table.write_text("".join(json.dumps({"de": s, "en": t}) + "\n" for s, t in zip(pairs.sources, pairs.targets)))
    assert textrnn.load_pairs(table, source_column="de", target_column="en") == pairs
    hub = tmp_path / "hub"
    (hub / "data").mkdir(parents=True)
    rows = [{"de": s, "en": t, "fr": "x"} for s, t in zip(pairs.sources, pairs.targets)]
    pq.write_table(pa.table({"translation": rows}), hub / "data" / "train-00000-of-00001.parquet")
    (hub / "README.md").write_text("---\nconfigs:\n- config_name: de-en\n  data_files:\n"
                                   "  - split: train\n    path: data/train-*\n---\n")
    assert textrnn.load_pairs(hub, source_lang="de", target_lang="en") == pairs
    with pytest.raises(textrnn.DataError, match="no language 'it'.*de, en, fr"):
        textrnn.load_pairs(hub, source_lang="it", target_lang="en")


def test_unmatched_files_and_empty_sides_are_counted(tmp_path):
    (tmp_path / "a.txt").write_text("eins\nzwei\ndrei\n")
    (tmp_path / "b.txt").write_text("one\ntwo\n")
    with pytest.raises(textrnn.DataError, match="a.txt has 3 lines and .*b.txt has 2"):
        textrnn.load_pairs([tmp_path / "a.txt", tmp_path / "b.txt"])
    (tmp_path / "b.txt").write_text("one\n\n \n")
    with pytest.raises(textrnn.DataError, match="2 of 3 pairs have an empty side .*pair 2"):
        textrnn.load_pairs([tmp_path / "a.txt", tmp_path / "b.txt"])


# ---- the model ---------------------------------------------------------------------------------

@pytest.mark.parametrize("attention", ["bahdanau", "general", "dot"])
def test_attention_sums_to_one_over_real_tokens_and_padding_changes_nothing(attention):
    torch.manual_seed(0)
    model = build_model(model_config(attention=attention, decoder_size=32)).eval()
    short, long_ = [5, 6, 7], [5, 6, 7, 8, 9, 10, 11, 12]
    src = torch.tensor([short + [PAD_ID] * 5, long_])
    memory, state, feed = model.encode(src, torch.tensor([3, 8]))
    _, _, weights = model.step(torch.tensor([2, 2]), state, feed, memory)
    assert torch.allclose(weights.sum(-1), torch.ones(2)) and (weights[0, 3:] == 0).all()
    alone = translate_ids(model, [short], 2, 3)
    together = translate_ids(model, [short, long_, long_ * 2], 2, 3)
    assert together[0] == alone[0]


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
@pytest.mark.parametrize("feeding", [False, True])
def test_the_teacher_forced_forward_equals_decoding_step_by_step(cell, feeding):
    # Without input feeding the whole target runs at once; with it, one embedding lookup
    # serves every position: either way the step that decoding takes gives the same scores.
    torch.manual_seed(0)
    model = build_model(model_config(cell=cell, input_feeding=feeding, decoder_layers=2)).eval()
    src, lengths = torch.randint(4, 30, (3, 7)), torch.tensor([7, 5, 2])
    tgt = torch.randint(4, 30, (3, 6))
    memory, state, feed = model.encode(src, lengths)
    feeds = []
    for t in range(tgt.size(1)):
        feed, state, _ = model.step(tgt[:, t], state, feed, memory)
        feeds.append(feed)
    assert torch.allclose(model(src, lengths, tgt), model.scores(torch.stack(feeds, 1)), atol=1e-6)


def test_dot_attention_needs_matching_widths():
    with pytest.raises(textrnn.ConfigError, match="dot attention"):
        build_model(model_config(attention="dot", decoder_size=48))


# ---- decoding ------------------------------------------------------------------------------------

def table_step(table):
    """A step whose log-probabilities depend on the position and the previous token only:
    table (T, V, V) of log-probabilities; the carry counts the position."""
    def step(y, t):
        return table[int(t[0])][y], t + 1
    return step


def test_beam_search_finds_the_best_of_every_path():
    torch.manual_seed(3)
    V, T, eos, alpha = 4, 4, 3, 0.6
    table = torch.log_softmax(torch.randn(T, V, V) * 2, -1)
    best, best_seq = -math.inf, None
    for n in range(1, T + 1):  # every sequence: ended by eos within T steps, or cut at T
        for seq in itertools.product(range(V), repeat=n):
            if eos in seq[:-1] or (n < T and seq[-1] != eos):
                continue
            prev, score = [0, *seq[:-1]], 0.0
            score = sum(table[i][prev[i]][seq[i]].item() for i in range(n))
            kept = list(seq[:-1]) if seq[-1] == eos else list(seq)
            score /= length_penalty(n if seq[-1] == eos else n, alpha)
            if score > best:
                best, best_seq = score, kept
    K = V ** (T - 1)
    found = beam_search(table_step(table), torch.zeros(K, dtype=torch.long), torch.tensor([0]), K, [T],
                        eos, alpha)[0]
    assert found == best_seq


def test_beam_of_one_is_greedy():
    torch.manual_seed(4)
    table = torch.log_softmax(torch.randn(12, 9, 9), -1)
    start, carry = torch.tensor([0, 4, 7]), torch.zeros(3, dtype=torch.long)
    assert beam_search(table_step(table), carry, start, 1, [12] * 3, eos=8) == \
        greedy(table_step(table), carry, start, [12] * 3, eos=8)


def test_take_reorders_nested_state():
    state = ([torch.arange(4)[:, None], (torch.arange(4), torch.arange(4) * 2)], torch.arange(4))
    got = take(state, torch.tensor([3, 3, 0]))
    assert got[0][1][1].tolist() == [6, 6, 0] and got[1].tolist() == [3, 3, 0]


# ---- training and the run folder -------------------------------------------------------------

def test_a_model_learns_the_toy_language_and_loads_back_the_same(trained):
    tr, tmp = trained
    sources = (tmp / "pairs" / "src.txt").read_text().splitlines()[:20]
    targets = (tmp / "pairs" / "tgt.txt").read_text().splitlines()[:20]
    greedy_out, beam_out = tr.translate(sources), tr.translate(sources, beam=4)
    assert sum(g == t for g, t in zip(greedy_out, targets)) >= 18
    assert sum(b == t for b, t in zip(beam_out, targets)) >= 18
    again = textrnn.load(tr.run_dir)
    assert again.translate(sources, beam=4) == beam_out
    src_tokens, tgt_tokens, weights = tr.attention(sources[0])
    assert weights.shape == (len(tgt_tokens), len(src_tokens))
    assert torch.allclose(torch.from_numpy(weights).sum(-1), torch.ones(len(tgt_tokens)))
    metrics = json.loads((Path(tr.run_dir) / "metrics.json").read_text())
    assert metrics["val"]["bleu"] > 80 and metrics["val"]["signature"]["bleu"].startswith("nrefs:1|case:mixed")


def test_the_length_penalty_is_chosen_on_validation_and_saved_with_the_model(trained, monkeypatch):
    tr, _ = trained
    chosen = json.loads((Path(tr.run_dir) / "metrics.json").read_text())["length_penalty"]
    on_val = chosen["val_bleu_beam_5"]
    assert set(on_val) == {str(a) for a in LENGTH_PENALTIES}
    assert on_val[str(chosen["chosen"])] == max(on_val.values())
    assert textrnn.load(tr.run_dir).config.head.length_penalty == chosen["chosen"]
    used = []  # translate() without a penalty uses the model's; one given wins
    monkeypatch.setattr(translator, "translate_ids", lambda *a: used.append(a[5]) or [[]])
    tr.translate(["eins"], beam=3)
    tr.translate(["eins"], beam=3, length_penalty=2.5)
    assert used == [chosen["chosen"], 2.5]


def test_a_chosen_length_penalty_is_saved_and_the_run_still_loads(tmp_path, monkeypatch):
    monkeypatch.setattr(TranslateTask, "choose_length_penalty", lambda self, model: (1.5, {"1.5": 0.0}))
    run_dir = train_small(tmp_path, max_steps=3, epochs=0)["run_dir"]
    assert json.loads((Path(run_dir) / "config.json").read_text())["head"]["length_penalty"] == 1.5
    assert textrnn.load(run_dir).config.head.length_penalty == 1.5  # the manifest vouches for it


def test_resume_is_exact(tmp_path):
    from textrnn.checkpoint import load_training_state

    straight = train_small(tmp_path, "whole", max_steps=30, epochs=0)
    train_small(tmp_path, "parts", max_steps=14, epochs=0)  # stops mid-epoch
    resumed = train_small(tmp_path, "parts", resume=True, max_steps=30, epochs=0)
    assert straight["step"] == resumed["step"] == 30
    a, b = (load_training_state(tmp_path / n)["model"] for n in ("whole", "parts"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_language_model_beam_search_scores_at_least_greedy():
    from conftest import make_text, tiny_lm

    tok = textrnn.train_tokenizer("char", [make_text()])
    torch.manual_seed(0)
    lm = textrnn.LanguageModel(tiny_lm(tok.get_vocab_size(), hidden_size=32), tok)

    def score(text):
        ids = lm.encode_prompt(text)
        logp = torch.log_softmax(lm.model(torch.tensor([ids]))[0][0].float(), -1)
        return sum(logp[t - 1, ids[t]].item() for t in range(5, len(ids)))  # after "ANNA:"

    greedy_text = lm.generate("ANNA:", 25, greedy=True)[0]
    beam_text = lm.generate("ANNA:", 25, beam=6)[0]
    assert score(beam_text) >= score(greedy_text) - 1e-4
    assert lm.generate("ANNA:", 25, beam=1, greedy=True)[0] == greedy_text
    with pytest.raises(textrnn.ConfigError, match="num_samples=1"):
        lm.generate("ANNA:", 5, beam=3, num_samples=2)


def test_recipe_and_cli_end_to_end(tmp_path, capsys):
    src, tgt = write_pairs(tmp_path / "p", n=120)
    run_script("translate", [str(a) for a in (
        "--data", src, tgt, "--test-data", src, tgt, "--out", tmp_path / "r", "--epochs", "1",
        "--hidden-size", "8", "--decoder-size", "16", "--tokenizer", "word", "--quiet")])
    out = capsys.readouterr().out
    assert "exact matches, beam 5" in out and (tmp_path / "r" / "attention.png").stat().st_size > 1000
    cli.main(["translate", str(tmp_path / "r"), "zwei hund .", "--beam", "3", "--json",
              "--plot-attention", str(tmp_path / "a.png")])
    line = json.loads(capsys.readouterr().out)
    assert line["source"] == "zwei hund ." and isinstance(line["translation"], str)
    assert (tmp_path / "a.png").exists()
    cli.main(["evaluate", str(tmp_path / "r"), "--data", str(src), str(tgt), "--json"])
    scores = json.loads(capsys.readouterr().out)
    assert set(scores) == {"greedy", "beam_5"} and scores["beam_5"]["sentences"] == 120
    chosen = json.loads((tmp_path / "r" / "metrics.json").read_text())["length_penalty"]["chosen"]
    assert scores["beam_5"]["length_penalty"] == chosen and "length_penalty" not in scores["greedy"]


def test_a_long_source_is_cut_with_a_warning(trained, caplog):
    tr, _ = trained
    with caplog.at_level("WARNING"):
        out = tr.translate(["zwei hund " * 80])
    assert "cut" in caplog.text and len(out) == 1


def test_special_tokens_sit_in_the_run_s_tokenizer(trained):
    tr, _ = trained
    bos, eos = special_ids(tr.tokenizer)
    assert bos is not None and eos is not None and bos != eos


# ---- one tokenizer per language --------------------------------------------------------------

def test_separate_vocabularies_train_save_and_translate(tmp_path):
    from textrnn.tokenizer_pair import PAIR_FILE, TokenizerPair
    src, tgt = write_pairs(tmp_path / "pairs", target_prefix="so ")
    result = train_small(tmp_path, epochs=40, separate=True, target_prefix="so ")
    run = Path(result["run_dir"])
    cfg = json.loads((run / "config.json").read_text())
    pair = TokenizerPair.from_file(run / PAIR_FILE)
    assert not (run / "tokenizer.json").exists() and cfg["tokenizer"] == "pair"
    # each side knows only its own language's words, plus the specials
    assert pair.source.token_to_id("▁hund") is not None and pair.source.token_to_id("▁dog") is None
    assert pair.target.token_to_id("▁dog") is not None and pair.target.token_to_id("▁hund") is None
    assert cfg["vocab_size"] == pair.source.get_vocab_size()
    assert cfg["head"]["target_vocab_size"] == pair.target.get_vocab_size()
    assert pair.target.get_vocab_size() == pair.source.get_vocab_size() + 1  # "▁so"
    tr = textrnn.load(run)
    sources, targets = src.read_text().splitlines()[:20], tgt.read_text().splitlines()[:20]
    out = tr.translate(sources, beam=3)
    assert sum(o == t for o, t in zip(out, targets)) >= 18
    src_tokens, tgt_tokens, _ = tr.attention(sources[0])  # each side read by its own tokenizer
    assert src_tokens[0].strip() == sources[0].split()[0] and tgt_tokens[0].strip() == "so"
    assert textrnn.load(run).translate(sources, beam=3) == out


def test_the_target_side_takes_its_own_vocabulary_size(tmp_path):
    from textrnn.tokenizer_pair import PAIR_FILE, TokenizerPair
    run = Path(train_small(tmp_path, epochs=1, separate=True, target_vocab=6)["run_dir"])
    pair = TokenizerPair.from_file(run / PAIR_FILE)
    assert pair.target.get_vocab_size() == 6 + 2  # the 6 asked for, then <s> and </s>
    assert pair.source.get_vocab_size() == 14  # --vocab-size 50 holds every source word
    model = textrnn.load(run).model
    assert model.out.out_features == 8 and model.embed.num_embeddings == 8
    assert model.encoder.embed.num_embeddings == pair.source.get_vocab_size()


@pytest.mark.parametrize("flag, files", [("--separate-vocab", {"tokenizer_pair.json"}),
                                         ("--no-separate-vocab", {"tokenizer.json"})])
def test_the_command_learns_one_vocabulary_per_language_unless_told(tmp_path, flag, files):
    src, tgt = write_pairs(tmp_path / "pairs")
    cli.main(["train-translator", "--data", str(src), str(tgt), "--out", str(tmp_path / "r"), flag,
              "--max-steps", "1", "--tokenizer", "word", "--target-vocab-size", "8", "--hidden-size", "8",
              "--embed-dim", "8", "--decoder-size", "8", "--quiet"])
    assert files <= {p.name for p in (tmp_path / "r").iterdir()}
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["head"]["target_vocab_size"] == (10 if flag == "--separate-vocab" else 0)


def test_a_pair_whose_target_side_does_not_fit_the_model_is_refused(tmp_path):
    from textrnn.tokenizer_pair import PAIR_FILE
    run = Path(train_small(tmp_path, epochs=1, separate=True)["run_dir"])
    cfg = json.loads((run / "config.json").read_text())
    cfg["head"]["target_vocab_size"] += 1
    (run / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(textrnn.CheckpointError):
        textrnn.load(run)
    (run / PAIR_FILE).write_text("{}")
    with pytest.raises(textrnn.CheckpointError):
        textrnn.load(run)


def test_a_language_model_config_cannot_name_a_pair():
    from textrnn.errors import ConfigError
    from textrnn.tasks import check_model_config, for_task
    with pytest.raises(ConfigError, match="not 'pair'"):
        check_model_config(for_task(ModelConfig(tokenizer="pair", vocab_size=10), "lm"))


@pytest.mark.parametrize("tokenizer, target_vocab", [("word", 12), ("pair", 0)])
def test_a_tokenizer_kind_and_target_vocabulary_that_disagree_are_refused(tokenizer, target_vocab):
    from textrnn.errors import ConfigError
    cfg = model_config(target_vocab_size=target_vocab)
    with pytest.raises(ConfigError, match="disagree"):
        build_model(ModelConfig(task="translator", tokenizer=tokenizer, vocab_size=30,
                                encoder=cfg.encoder, head=cfg.head))


# ---- evaluation obeys training's caps; sampling's edges ------------------------------------------
def test_validation_and_test_sources_obey_max_length_and_the_log_counts_the_cut(tmp_path, monkeypatch,
                                                                               caplog):
    src, tgt = write_pairs(tmp_path / "pairs")
    long_src, long_tgt = "zwei hund " * 330 + ".", "two dog " * 330 + "."  # 3,300 characters
    for split in ("val", "test"):
        (tmp_path / f"{split}.src").write_text(f"zwei hund .\n{long_src}\n")
        (tmp_path / f"{split}.tgt").write_text(f"two dog .\n{long_tgt}\n")
    read = []
    inner = TranslateTask.translated

    def counted(self, model, sources, *args, **kwargs):
        read.append(max(len(s) for s in sources))
        return inner(self, model, sources, *args, **kwargs)

    monkeypatch.setattr(TranslateTask, "translated", counted)
    data = ParallelDataConfig(data=[str(src), str(tgt)], tokenizer="word", vocab_size=50, min_frequency=1,
                              max_length=12, val_data=[str(tmp_path / "val.src"), str(tmp_path / "val.tgt")],
                              test_data=[str(tmp_path / "test.src"), str(tmp_path / "test.tgt")])
    cfg = ModelConfig(task="translator", encoder=EncoderConfig(cell="gru", embed_dim=8, hidden_size=8,
                                                                num_layers=1), head=TranslatorHeadConfig(decoder_size=8))
    with caplog.at_level("INFO"):
        result = textrnn.train("translator", data, cfg, TrainConfig(max_steps=2, batch_size=8, eval_every=0,
                                                                   save_every=0, seed=0),
                               tmp_path / "run", show_progress=False)
    assert read and max(read) <= 12
    assert "validation: 1 of 2 sources have more than 12 tokens" in caplog.text
    assert "test: 1 of 2 sources" in caplog.text and result["test"]["greedy"]["sentences"] == 2


def test_a_vanishing_temperature_translates_greedily(trained):
    tr, _ = trained
    texts = ["zwei hund .", "ein katze"]
    assert tr.translate(texts, temperature=1e-40, seed=0) == tr.translate(texts)
