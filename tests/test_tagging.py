"""The tagger: CRF algorithms against brute force, tag schemes and span scores (against
seqeval), the readers, the backward language model, and the task end to end."""
import itertools
import json
import math
from pathlib import Path

import pytest
import torch

import textrnn
from textrnn import cli
from textrnn.checkpoint import load_training_state
from textrnn.data.schemes import SPAN_SCHEMES, allowed, convert, detect, spans
from textrnn.data.tagged import load_tagged, split_words
from textrnn.models.crf import CRF
from textrnn.tasks.tag import tag_set, transitions
from textrnn.tasks.tag_baseline import MostFrequentTag
from textrnn.tasks.tagger import tagging_metrics

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "tagging_sample.conll"
SAMPLE_TEST = ROOT / "data" / "tagging_sample_test.conll"
PLAY = ROOT / "data" / "tiny_play.txt"
TINY = ["--embed-dim", "16", "--hidden-size", "16", "--char-embed-dim", "8", "--char-hidden", "8",
        "--quiet", "--precision", "fp32"]


# ---- the CRF against enumeration of every path -------------------------------------------
def tiny_crf(k=3, seed=0, forbid=()):
    torch.manual_seed(seed)
    allowed_ = torch.ones(k, k, dtype=torch.bool)
    for a, b in forbid:
        allowed_[a, b] = False
    crf = CRF(k, allowed_)
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    return crf


def every_path(crf, emissions, length):
    """(path, score) for every tag path of one sentence."""
    with torch.no_grad():
        trans, start, end = crf.scores()
    k = emissions.shape[-1]
    for path in itertools.product(range(k), repeat=length):
        s = start[path[0]] + end[path[-1]] + sum(emissions[t, path[t]] for t in range(length))
        s = s + sum(trans[path[t - 1], path[t]] for t in range(1, length))
        yield path, float(s)


def test_log_partition_equals_the_sum_over_every_path():
    crf = tiny_crf()
    emissions = torch.randn(2, 4, 3)
    lengths = torch.tensor([4, 3])
    logz = crf.log_partition(emissions, lengths).detach()
    for b in range(2):
        brute = torch.logsumexp(torch.tensor([s for _, s in every_path(crf, emissions[b], int(lengths[b]))]), 0)
        assert float(logz[b]) == pytest.approx(float(brute), abs=1e-4)


def test_the_loss_of_a_padded_batch_is_each_sentence_s_own():
    crf = tiny_crf(seed=2, forbid=[(1, 0)])
    emissions, tags = torch.randn(2, 4, 3), torch.tensor([[0, 1, 1, 2], [2, 0, 2, 0]])
    lengths = torch.tensor([4, 2])
    nll = crf.nll(emissions, tags, lengths).detach()
    for b in range(2):
        n = int(lengths[b])
        scores = dict(every_path(crf, emissions[b], n))
        z = torch.logsumexp(torch.tensor(list(scores.values())), 0)
        assert float(nll[b]) == pytest.approx(float(z) - scores[tuple(tags[b, :n].tolist())], abs=1e-4)


def test_viterbi_finds_the_best_path_and_marginals_sum_paths():
    crf = tiny_crf(seed=1, forbid=[(0, 2), (1, 1)])
    emissions = torch.randn(2, 5, 3)
    lengths = torch.tensor([5, 2])
    best = crf.decode(emissions, lengths)
    marginals = crf.marginals(emissions, lengths)
    for b in range(2):
        n = int(lengths[b])
        paths = list(every_path(crf, emissions[b], n))
        top = max(paths, key=lambda p: p[1])[0]
        assert best[b, :n].tolist() == list(top)
        z = torch.logsumexp(torch.tensor([s for _, s in paths]), 0)
        p_tag = sum(math.exp(s - float(z)) for path, s in paths if path[1] == 2)
        assert float(marginals[b, 1, 2]) == pytest.approx(p_tag, abs=1e-4)
        assert torch.allclose(marginals[b, :n].sum(-1), torch.ones(n), atol=1e-4)


def test_forbidden_transitions_never_appear_in_decoded_output():
    tags = tag_set([["B-PER", "I-PER", "O", "B-LOC"]], "bioes")
    crf = CRF(len(tags), *transitions(tags, "bioes"))
    with torch.no_grad():
        crf.transitions.normal_(0, 3)  # the scheme's rules must win over any learnt score
    paths = crf.decode(torch.randn(64, 9, len(tags)) * 3, torch.full((64,), 9))
    for path in paths.tolist():
        names = [tags[i] for i in path]
        assert all(allowed(a, b, "bioes") for a, b in zip([None] + names, names + [None]))
        assert convert(names, "bioes") == names  # already valid: nothing to repair


# ---- schemes and span scores -------------------------------------------------------------
def test_schemes_are_told_apart_and_round_trip():
    iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG"]
    assert detect([iob1]) == "iob1"
    assert detect([["B-PER", "I-PER", "O"]]) == "iob2"
    assert detect([["S-PER", "B-LOC", "E-LOC"]]) == "bioes"
    assert detect([["NOUN", "VERB"]]) == "none"
    found = spans(iob1)
    assert found == [("PER", 0, 2), ("PER", 2, 3), ("LOC", 4, 5), ("ORG", 5, 6)]
    for a in SPAN_SCHEMES:
        for b in SPAN_SCHEMES:
            written = convert(convert(iob1, a), b)
            assert spans(written) == found
            assert convert(written, a) == convert(iob1, a)
    assert convert(iob1, "iob1") == iob1


def test_span_scores_by_hand_including_iob1_edges():
    gold = [["I-PER", "B-PER", "O", "I-LOC"]]           # PER(0), PER(1), LOC(3)
    predicted = [["I-PER", "I-PER", "O", "B-LOC"]]      # PER(0-1) (wrong), LOC(3) (right)
    m = tagging_metrics(gold, predicted, "iob1")
    assert (m["precision"], m["recall"]) == (0.5, pytest.approx(1 / 3))
    assert m["per_type"]["PER"]["f1"] == 0.0 and m["per_type"]["LOC"]["f1"] == 1.0
    # An I- after O starts a span (conlleval's repair); an E- closes one.
    assert spans(["O", "I-X", "E-X", "I-X"]) == [("X", 1, 3), ("X", 3, 4)]
    assert tagging_metrics([["NOUN", "VERB"]], [["NOUN", "NOUN"]], "none")["score"] == 0.5


def test_span_scores_match_seqeval():
    seqeval = pytest.importorskip("seqeval.metrics")
    gold = load_tagged(SAMPLE_TEST).tags[:200]
    rng = torch.Generator().manual_seed(0)
    names = sorted({t for ts in gold for t in ts})
    predicted = [[names[int(torch.randint(len(names), (1,), generator=rng))] if torch.rand(1, generator=rng) < 0.15
                  else t for t in ts] for ts in gold]
    ours = tagging_metrics(gold, predicted, "iob2")
    assert ours["f1"] == pytest.approx(seqeval.f1_score(gold, predicted), abs=1e-9)
    assert ours["precision"] == pytest.approx(seqeval.precision_score(gold, predicted), abs=1e-9)
    theirs = seqeval.classification_report(gold, predicted, output_dict=True)
    for kind, m in ours["per_type"].items():
        assert m["f1"] == pytest.approx(theirs[kind]["f1-score"], abs=1e-9)


# ---- readers ------------------------------------------------------------------------------
def test_conll_conllu_and_tables_read_alike(tmp_path):
    (tmp_path / "a.conll").write_text("-DOCSTART- -X- O\n\nAngela NNP B-PER\nMerkel NNP I-PER\n"
                                      "spoke VBD O\n\nParis NNP B-LOC\n")
    data = load_tagged(tmp_path / "a.conll")
    assert data.sentences == [["Angela", "Merkel", "spoke"], ["Paris"]]
    assert data.tags == [["B-PER", "I-PER", "O"], ["B-LOC"]] and data.lines == [[3, 4, 5], [7]]
    assert load_tagged(tmp_path / "a.conll", tag_column="1").tags[0] == ["NNP", "NNP", "VBD"]
    (tmp_path / "a.conllu").write_text(
        "# sent_id = 1\n1-2\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n1\tdo\tdo\tAUX\tVBP\t_\t0\troot\t_\t_\n"
        "2\tn't\tnot\tPART\tRB\t_\t1\tadvmod\t_\t_\n2.1\tgo\tgo\tVERB\tVB\t_\t_\t_\t0:root\t_\n\n")
    assert load_tagged(tmp_path / "a.conllu").tags == [["AUX", "PART"]]
    assert load_tagged(tmp_path / "a.conllu", tag_column="xpos").sentences == [["do", "n't"]]
    (tmp_path / "a.jsonl").write_text(json.dumps({"tokens": ["Paris", "wins"], "tags": ["B-LOC", "O"]}) + "\n")
    assert load_tagged(tmp_path / "a.jsonl").tags == [["B-LOC", "O"]]
    (tmp_path / "a.csv").write_text("words,labels\nParis wins,B-LOC O\n")
    assert load_tagged(tmp_path / "a.csv").sentences == [["Paris", "wins"]]


def test_a_hub_dataset_with_class_label_tags(tmp_path):
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-PER", "I-PER"]))})
    root = tmp_path / "hub"
    (root / "data").mkdir(parents=True)
    for split in ("train", "validation"):
        table = datasets.Dataset.from_dict({"tokens": [["Ada", "Lovelace", "wrote"]], "ner_tags": [[1, 2, 0]]},
                                           features=features)
        table.to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
    (root / "README.md").write_text("---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n"
                                    "    path: data/train-*\n  - split: validation\n    path: data/validation-*\n---\n")
    data = load_tagged(str(root), split="validation")
    assert data.sentences == [["Ada", "Lovelace", "wrote"]] and data.tags == [["B-PER", "I-PER", "O"]]


def test_raw_text_splits_into_words_with_offsets():
    text = "Angela Merkel visited Paris in 2019, didn't she? U.S. costs 3.5%."
    words = split_words(text)
    assert [w for w, _, _ in words][:8] == ["Angela", "Merkel", "visited", "Paris", "in", "2019", ",", "didn't"]
    assert all(text[a:b] == w for w, a, b in words)
    assert ("U.S", 49, 52) in words and ("3.5", 60, 63) in words


def test_the_sample_defeats_a_word_lookup():
    """The bundled sample needs context: a table of each word's most frequent tag fails on it."""
    train, test = load_tagged(SAMPLE), load_tagged(SAMPLE_TEST)
    guess = MostFrequentTag(train.sentences, train.tags).tag(test.sentences)
    assert tagging_metrics(test.tags, [convert(g, "iob2") for g in guess], "iob2")["f1"] < 0.7
    tags_of = {}
    for s, ts in zip(train.sentences, train.tags):
        for w, t in zip(s, ts):
            tags_of.setdefault(w, set()).add(t.split("-")[-1])
    assert {"Jordan", "Paris", "Ford", "May"} <= {w for w, kinds in tags_of.items() if len(kinds) > 1}


# ---- the backward language model ---------------------------------------------------------
def test_a_backward_lm_scores_reversed_text_as_a_forward_one(tmp_path):
    args = ["--data", PLAY, "--max-steps", "2", "--bptt", "16", "--embed-dim", "8", "--hidden-size", "8",
            "--batch-size", "4", "--quiet", "--precision", "fp32", "--seed", "3"]
    cli.main(["train-lm", *map(str, args), "--out", str(tmp_path / "fwd")])
    cli.main(["train-lm", *map(str, args), "--reverse", "--out", str(tmp_path / "bwd")])
    fwd, bwd = textrnn.load(tmp_path / "fwd"), textrnn.load(tmp_path / "bwd")
    assert bwd.config.head.reverse and not fwd.config.head.reverse
    bwd.model.load_state_dict(fwd.model.state_dict())  # the same weights: only the reading order differs
    text = "To be, or not to be: that is the question."
    assert bwd.evaluate(text)["loss"] == pytest.approx(fwd.evaluate(text[::-1])["loss"], rel=1e-6)
    with pytest.raises(textrnn.ConfigError, match="backwards"):
        bwd.generate("To be", max_new_tokens=3)


# ---- the task end to end -------------------------------------------------------------------
def small_conll(path: Path, n=60) -> Path:
    lines = load_tagged(SAMPLE)
    with open(path, "w") as f:
        for words, tags in list(zip(lines.sentences, lines.tags))[:n]:
            f.write("".join(f"{w} {t}\n" for w, t in zip(words, tags)) + "\n")
    return path


@pytest.mark.parametrize("char_features", ["lstm", "cnn"])
def test_a_tagger_overfits_one_small_batch(char_features):
    data = load_tagged(SAMPLE)
    from textrnn.tasks.tag import TagTask, TaggerHeadConfig
    from textrnn.tasks.tag_vocab import TaggerVocab
    from textrnn.tasks.tagger import collate_sentences, encode_sentences, model_inputs

    sentences, tags = data.sentences[:8], [convert(t, "bioes") for t in data.tags[:8]]
    vocab = TaggerVocab.learn(sentences, 1, True)
    names = tag_set(tags, "bioes")
    cfg = textrnn.ModelConfig(task="tagger", tokenizer="tagger", vocab_size=vocab.get_vocab_size(),
                              encoder=textrnn.EncoderConfig(embed_dim=16, hidden_size=16, num_layers=1,
                                                            bidirectional=True, dropout=0.0),
                              head=TaggerHeadConfig(tags=names, scheme="bioes", char_vocab_size=len(vocab.chars),
                                                    char_features=char_features))
    model = TagTask.build_model(cfg)
    batch = collate_sentences(encode_sentences(vocab, sentences, []), [[names.index(t) for t in ts] for ts in tags])
    words, lengths, chars, strings, gold = model_inputs(batch, "cpu")
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(60):
        loss = model(words, lengths, chars, strings, tags=gold)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.05
    best, _ = model.eval().decode(words, lengths, chars, strings)
    assert all(best[b, :n].tolist() == gold[b, :n].tolist() for b, n in enumerate(lengths.tolist()))


def test_language_models_read_each_word_where_it_ends_or_begins():
    """Forwards, a word's state is the one after its last character; backwards (the string
    reversed), the one after its first."""
    from tokenizers import Tokenizer
    from textrnn.tasks.tag_vocab import TaggerVocab
    from textrnn.tokenization import train_tokenizer

    words = ["Ada", "met", "Bo", "."]
    lm = train_tokenizer("char", ["\nAda met Bo ."], 100)
    vocab = TaggerVocab.learn([words], 1, True, [lm, Tokenizer.from_str(lm.to_str())])
    text = "\n" + " ".join(words)
    back = "\n" + " ".join(words)[::-1]
    ids, at = vocab.strings(words, 0, backward=False)
    assert ids == [lm.token_to_id(c) for c in text]
    assert [text[p] for p in at] == ["a", "t", "o", "."]  # each word's last character
    ids, at = vocab.strings(words, 1, backward=True)
    assert ids == [lm.token_to_id(c) for c in back]
    assert [back[p] for p in at] == ["A", "m", "B", "."]  # each word's first character


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("tagger")
    data = small_conll(root / "train.conll")
    cli.main(["train-tagger", "--data", str(data), "--test-data", str(small_conll(root / "test.conll", 20)),
              "--out", str(root / "run"), "--epochs", "2", "--batch-size", "8", *TINY])
    return root


def test_train_tag_evaluate_and_reload(trained, capsys):
    run = textrnn.load(trained / "run")
    assert isinstance(run, textrnn.Tagger) and run.scheme == "bioes"
    metrics = json.loads((trained / "run" / "metrics.json").read_text())
    assert "test" in metrics and "per_type" in metrics["test"]
    text = "Angela Merkel visited Paris in 2019."
    first = run.tag([text])[0]
    assert first["tokens"] == ["Angela", "Merkel", "visited", "Paris", "in", "2019", "."]
    assert len(first["tags"]) == len(first["confidences"]) == 7
    assert all(0 < p <= 1 for p in first["confidences"])
    for span in first["spans"]:
        assert text[span["start"]:span["end"]] == span["text"]
    again = textrnn.load(trained / "run").tag([text])[0]
    assert again == first  # save, then load: the same tags and confidences
    cli.main(["tag", str(trained / "run"), text, "--quiet"])
    rows = capsys.readouterr().out.strip().splitlines()
    assert [r.split("\t")[:2] for r in rows] == [[w, t] for w, t in zip(first["tokens"], first["tags"])]
    cli.main(["evaluate", str(trained / "run"), "--data", str(trained / "test.conll"), "--json",
              "--output", str(trained / "pred.jsonl"), "--quiet"])
    scored = json.loads(capsys.readouterr().out)
    assert scored["f1"] == pytest.approx(metrics["test"]["f1"])
    assert len((trained / "pred.jsonl").read_text().splitlines()) == 20


def test_unseen_test_tags_are_reported_not_a_crash(trained, tmp_path):
    (tmp_path / "odd.conll").write_text("Paris B-CITY\nwins O\n")
    metrics = textrnn.load(trained / "run").evaluate(tmp_path / "odd.conll")
    assert metrics["unknown_tags"] == {"S-CITY": 1} and metrics["recall"] == 0.0


def test_resume_is_exact(tmp_path):
    data = small_conll(tmp_path / "train.conll", 40)
    # A constant rate: the length of a cosine follows --max-steps, which these runs change
    common = ["--data", str(data), "--batch-size", "8", "--save-every", "3", "--eval-every", "3",
              "--schedule", "constant", *TINY]
    cli.main(["train-tagger", *common, "--out", str(tmp_path / "whole"), "--max-steps", "6"])
    cli.main(["train-tagger", *common, "--out", str(tmp_path / "parts"), "--max-steps", "3"])
    cli.main(["train-tagger", *common, "--out", str(tmp_path / "parts"), "--max-steps", "6", "--resume"])
    a, b = textrnn.load(tmp_path / "whole").model, textrnn.load(tmp_path / "parts").model
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), name
    assert load_training_state(tmp_path / "parts")["step"] == 6


def test_contextual_string_embeddings_from_textrnn_lms(tmp_path):
    lm = ["--data", str(PLAY), "--max-steps", "2", "--bptt", "16", "--embed-dim", "8", "--hidden-size", "12",
          "--num-layers", "1", "--batch-size", "4", "--quiet", "--precision", "fp32"]
    cli.main(["train-lm", *lm, "--out", str(tmp_path / "fwd")])
    cli.main(["train-lm", *lm, "--reverse", "--out", str(tmp_path / "bwd")])
    data = small_conll(tmp_path / "train.conll", 30)
    cli.main(["train-tagger", "--data", str(data), "--out", str(tmp_path / "run"), "--max-steps", "3",
              "--embeddings", str(tmp_path / "fwd"), str(tmp_path / "bwd"), "--batch-size", "8", *TINY])
    run = textrnn.load(tmp_path / "run")
    fwd = textrnn.load(tmp_path / "fwd").model.encoder.state_dict()
    kept = run.model.strings.models[0].state_dict()
    assert all(torch.equal(kept[k], v) for k, v in fwd.items())  # fixed (no fine-tuning)
    assert run.model.strings.output_size == 24
    cli.main(["train-tagger", "--data", str(data), "--out", str(tmp_path / "tuned"), "--max-steps", "2",
              "--embeddings", str(tmp_path / "fwd"), "--fine-tune-embeddings", "--batch-size", "8", *TINY])
    tuned = textrnn.load(tmp_path / "tuned").model.strings.models[0].state_dict()
    assert not all(torch.equal(tuned[k], v) for k, v in fwd.items())  # trained with the tagger
    # Fixed language models' vectors are kept per sentence: read back, they give the same loss.
    from textrnn.tasks.tag import TagTask
    data_cfg = textrnn.TaggedDataConfig(data=str(data), unk_dropout=0.0,
                                        embeddings=[str(tmp_path / "fwd"), str(tmp_path / "bwd")])
    task = TagTask.prepare(TagTask.read_data(data_cfg, 0), run.tokenizer, data_cfg,
                           textrnn.TrainConfig(batch_size=8), None, run.config)
    batch = task.batch(0, 1)
    from textrnn.tasks.tagger import model_inputs
    words, lengths, chars, strings, tags = model_inputs(batch[:-1], "cpu")
    with torch.no_grad():
        first, _ = task.loss(run.model, batch, None, "cpu")
        again, _ = task.loss(run.model, batch, None, "cpu")
        fresh = run.model(words, lengths, chars, strings, tags=tags)
    assert float(first) == float(again) == pytest.approx(float(fresh), abs=1e-6)
    assert len(task.string_cache) == len(batch[-1])
    # The run folder alone is enough: the language models' files may go.
    for name in ("fwd", "bwd"):
        for f in (tmp_path / name).iterdir():
            f.unlink()
    assert len(textrnn.load(tmp_path / "run").tag(["Jordan met Paris ."])[0]["tags"]) == 4


def test_the_recipe_end_to_end(tmp_path, capsys):
    from test_bad_input import run_script
    data = small_conll(tmp_path / "train.conll", 40)
    run_script("tagging", ["--data", str(data), "--test-data", str(small_conll(tmp_path / "t.conll", 10)),
                           "--out", str(tmp_path / "run"), "--epochs", "1", *TINY])
    out = capsys.readouterr().out
    assert "--- test ---" in out and "most-frequent-tag baseline" in out and "micro avg" in out


def test_the_server_tags_as_the_library_does(trained):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient
    from textrnn.serve import ServeConfig, create_app

    app = create_app([trained / "run"], ServeConfig(max_texts=2))
    with TestClient(app, base_url="http://localhost") as client:
        text = "Jordan flew to Paris ."
        got = client.post("/v1/tag", json={"texts": [text]}).json()
        assert got["scheme"] == "bioes"
        assert got["results"] == json.loads(json.dumps(textrnn.load(trained / "run").tag([text])))
        assert client.get("/v1/models").json()["models"][0]["task"] == "tagger"
        panel = client.get("/panels/tagger.js")
        assert panel.status_code == 200 and "panels.tagger" in panel.text
        for body, status in (({"texts": ["  "]}, 422), ({"texts": ["a"] * 3}, 413), ({"text": "a"}, 422)):
            bad = client.post("/v1/tag", json=body)
            assert bad.status_code == status and list(bad.json()) == ["error"]
            assert "\n" not in bad.json()["error"]


def test_the_bundled_sample_is_what_the_script_generates(tmp_path, monkeypatch):
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_tagging", ROOT / "data" / "make_tagging_sample.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    monkeypatch.setattr(gen, "HERE", tmp_path)
    gen.main()
    for name in ("tagging_sample.conll", "tagging_sample_test.conll"):
        assert (tmp_path / name).read_bytes() == (ROOT / "data" / name).read_bytes()
    recipe = (ROOT / "recipes" / "tagging.py").read_text()
    train = {" ".join(s) for s in load_tagged(SAMPLE).sentences}
    for sentence in ("Jordan flew to Paris on Monday with help from Apple .",
                     "Paris met Jordan in Georgia , Ford said .", "Angela Merkel visited Austin in May ."):
        assert sentence in recipe and sentence not in train  # the recipe's examples are held out
