"""Run folders on the Hugging Face Hub, offline: the download path reads a cache laid out as
huggingface_hub lays it out (HF_HUB_OFFLINE=1), and the upload path is checked by the
operations handed to HfApi.create_commit, the client patched at that one boundary."""
import hashlib
import json
import os
import shutil

import huggingface_hub
import huggingface_hub.constants as hub_constants
import pytest
import torch
import yaml

import textrnn
from textrnn import CheckpointError, ConfigError
from textrnn.cli import main
from textrnn.hub import model_id
from textrnn.model_card import card_text
from textrnn.training import load_start

from conftest import CLASSIFIER_RUN, save_play_lm

REPO = "someone/play-lstm"


@pytest.fixture(autouse=True)
def hub_cache(tmp_path, monkeypatch):
    """An empty Hub cache of the test's own, offline."""
    cache = tmp_path / "hub-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    return cache


def cache_model(cache, repo: str, files: dict, revision: str = "main") -> str:
    """Lay out {name: bytes} as huggingface_hub caches a model repository: content-addressed
    blobs, a snapshot folder of links to them per commit, and refs/<revision> naming the
    commit. Returns the commit hash."""
    storage = cache / f"models--{repo.replace('/', '--')}"
    commit = hashlib.sha1(repr(sorted(files.items())).encode()).hexdigest()
    snapshot = storage / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (storage / "blobs").mkdir(exist_ok=True)
    for name, data in files.items():
        blob = storage / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    (storage / "refs").mkdir(exist_ok=True)
    (storage / "refs" / revision).write_text(commit)
    return commit


def folder_files(folder, skip=("training_state.pt",)) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name not in skip}


@pytest.fixture
def lm_run(tmp_path):
    run = save_play_lm(tmp_path / "play")
    (run / "metrics.json").write_text(json.dumps({"val": {"loss": 1.25, "bpc": 1.8034, "tokens": 900},
                                                  "test": {"loss": 1.3}}))
    return run


def logits_of(run, text="ANNA: the sea"):
    ids = torch.tensor([run.tokenizer.encode(text).ids])
    with torch.no_grad():
        return run.model(ids)[0]


def test_a_run_from_the_hub_cache_gives_the_local_folders_outputs(lm_run, hub_cache):
    cache_model(hub_cache, REPO, folder_files(lm_run))
    local, hub = textrnn.load(lm_run), textrnn.load(REPO)
    assert torch.equal(logits_of(local), logits_of(hub))
    a = local.generate("ANNA:", max_new_tokens=30, seed=3)
    assert a == hub.generate("ANNA:", max_new_tokens=30, seed=3)


def test_a_revision_reads_that_ref_and_a_missing_one_says_both_places(lm_run, hub_cache):
    cache_model(hub_cache, REPO, folder_files(lm_run), revision="v1")
    assert textrnn.load(f"{REPO}@v1").step == textrnn.load(lm_run).step
    with pytest.raises(CheckpointError) as err:
        textrnn.load(f"{REPO}@v2")
    message = str(err.value)
    assert "is not a folder here" in message and "not in the local cache" in message
    assert "\n" not in message


def test_a_local_folder_wins_over_a_hub_model_of_the_same_name(lm_run, hub_cache, tmp_path, monkeypatch):
    other = save_play_lm(tmp_path / "other")
    cache_model(hub_cache, REPO, folder_files(other))
    monkeypatch.chdir(tmp_path)
    shutil.copytree(lm_run, tmp_path / REPO)
    assert torch.equal(logits_of(textrnn.load(REPO)), logits_of(textrnn.load(lm_run)))


def test_paths_and_model_ids_are_told_apart():
    assert model_id("user/name") == ("user/name", None)
    assert model_id("user/name@v1.0") == ("user/name", "v1.0")
    for path in ("/abs/run", "./run", "runs/a/b", "../x/y", "run", "user/-bad", "user/na..me"):
        assert model_id(path) is None, path


def test_a_repository_that_is_no_run_and_an_incomplete_copy_are_one_line_each(lm_run, hub_cache):
    cache_model(hub_cache, "someone/not-a-run", {"model.safetensors": b"x", "README.md": b"# hi\n"})
    with pytest.raises(CheckpointError, match="is not a textrnn run"):
        textrnn.load("someone/not-a-run")
    files = folder_files(lm_run)
    del files["model.safetensors"]  # an interrupted download: the manifest lists it
    cache_model(hub_cache, "someone/cut", files)
    with pytest.raises(CheckpointError, match="incomplete .*model.safetensors"):
        textrnn.load("someone/cut")


def test_cached_files_are_verified_as_a_local_folders_are(lm_run, hub_cache):
    files = folder_files(lm_run)
    files["config.json"] = files["config.json"].replace(b'"hidden_size": 48', b'"hidden_size": 40')
    cache_model(hub_cache, REPO, files)
    with pytest.raises(CheckpointError, match="manifest.json|does not match"):
        textrnn.load(REPO)


def test_hub_errors_become_one_line_each(monkeypatch):
    from huggingface_hub import errors
    import httpx2

    response = httpx2.Response(404, request=httpx2.Request("GET", "https://huggingface.co/api/models/a/b"))
    for exc, words in ((errors.RevisionNotFoundError("no revision", response=response), "has no revision"),
                       (errors.GatedRepoError("gated", response=response), "is gated"),
                       (errors.RepositoryNotFoundError("missing", response=response), "no Hub model a/b")):
        def fail(*a, exc=exc, **k):
            raise exc
        monkeypatch.setattr(huggingface_hub, "snapshot_download", fail)
        with pytest.raises(CheckpointError) as err:
            textrnn.load("a/b@x")
        assert words in str(err.value) and "\n" not in str(err.value)


def test_every_command_takes_a_model_id(lm_run, hub_cache, tmp_path, capsys):
    cache_model(hub_cache, REPO, folder_files(lm_run))
    main(["sample", REPO, "--prompt", "ANNA:", "--length", "20", "--seed", "1", "--quiet"])
    from_hub = capsys.readouterr().out
    main(["sample", str(lm_run), "--prompt", "ANNA:", "--length", "20", "--seed", "1", "--quiet"])
    assert from_hub == capsys.readouterr().out
    model, tokenizer = load_start(REPO)  # --init-from
    assert tokenizer.get_vocab_size() == model.cfg.vocab_size
    with pytest.raises(SystemExit):
        main(["sample", "someone/missing", "--prompt", "A", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a folder here" in err[0] and "Traceback" not in err[0]


class FakeApi:
    """HfApi at its boundary: records what it is handed."""
    calls = []

    def __init__(self, **kw):
        pass

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", repo_id, kw))

    def create_branch(self, repo_id, **kw):
        self.calls.append(("create_branch", repo_id, kw))

    def create_commit(self, repo_id, operations, **kw):
        self.calls.append(("create_commit", repo_id, list(operations), kw))
        return type("Info", (), {"commit_url": f"https://huggingface.co/{repo_id}/commit/1"})()


@pytest.fixture
def fake_api(monkeypatch):
    FakeApi.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    return FakeApi


def pushed(api) -> dict:
    """{path in the repository: bytes} of the one commit made."""
    (commit,) = [c for c in api.calls if c[0] == "create_commit"]
    out = {}
    for op in commit[2]:
        data = op.path_or_fileobj
        out[op.path_in_repo] = data if isinstance(data, bytes) else open(data, "rb").read()
    return out


def front_matter(card: bytes) -> dict:
    text = card.decode()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_push_sends_the_run_files_and_a_card_and_they_load_back(lm_run, fake_api, hub_cache):
    (lm_run / "training_state.pt").write_bytes(b"not sent")
    url = textrnn.push(lm_run, REPO, private=True, license="apache-2.0", language=["en"])
    assert url.startswith(f"https://huggingface.co/{REPO}")
    assert ("create_repo", REPO, {"private": True, "exist_ok": True}) in fake_api.calls
    files = pushed(fake_api)
    assert "training_state.pt" not in files
    assert {"config.json", "model.safetensors", "tokenizer.json", "manifest.json", "metrics.json",
            "README.md"} <= set(files)
    for name, data in files.items():
        if name != "README.md":
            assert data == (lm_run / name).read_bytes(), name
    meta = front_matter(files["README.md"])
    assert meta["library_name"] == "textrnn" and meta["pipeline_tag"] == "text-generation"
    assert meta["license"] == "apache-2.0" and meta["language"] == ["en"]
    results = meta["model-index"][0]["results"]
    shown = {(r["dataset"]["split"], m["type"]): m["value"] for r in results for m in r["metrics"]}
    assert shown == {("validation", "loss"): 1.25, ("validation", "bpc"): 1.8034, ("test", "loss"): 1.3}
    cache_model(hub_cache, REPO, files)  # what was pushed, as a later download caches it
    assert torch.equal(logits_of(textrnn.load(REPO)), logits_of(textrnn.load(lm_run)))


def test_push_with_state_and_a_branch(lm_run, fake_api):
    textrnn.save_pretrained(lm_run, textrnn.load(lm_run).model, textrnn.load(lm_run).tokenizer)
    from textrnn.checkpoint import save_training_state
    save_training_state(lm_run, {"step": 0})
    main(["push", str(lm_run), REPO, "--with-state", "--revision", "experiments"])
    assert ("create_branch", REPO, {"branch": "experiments", "exist_ok": True}) in fake_api.calls
    assert "training_state.pt" in pushed(fake_api)
    assert fake_api.calls[-1][3]["revision"] == "experiments"


def test_a_damaged_run_or_a_bad_id_is_never_pushed(lm_run, fake_api, capsys):
    with pytest.raises(ConfigError, match="not a Hub model id"):
        textrnn.push(lm_run, "no-namespace")
    weights = lm_run / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8])
    with pytest.raises(SystemExit):
        main(["push", str(lm_run), REPO])
    assert "model.safetensors" in capsys.readouterr().err
    assert fake_api.calls == []


def test_the_card_of_an_old_run_parses_and_shows_how_to_load_it():
    card = card_text(CLASSIFIER_RUN, REPO)
    meta = front_matter(card.encode())
    assert meta["pipeline_tag"] == "text-classification" and meta["library_name"] == "textrnn"
    assert f"textrnn.load('{REPO}')" in card and f"textrnn predict {REPO}" in card


def test_a_finished_run_writes_its_card(tmp_path, text):
    data = tmp_path / "play.txt"
    data.write_text(text)
    main(["train-lm", "--data", str(data), "--out", str(tmp_path / "run"), "--hidden-size", "16",
          "--embed-dim", "8", "--num-layers", "1", "--max-steps", "4", "--batch-size", "4", "--bptt", "16",
          "--warmup-steps", "0", "--quiet"])
    card = (tmp_path / "run" / "README.md").read_text()
    assert "textrnn train-lm --data" in card and "--hidden-size 16" in card and "--max-steps 4" in card
    meta = front_matter(card.encode())
    assert meta["model-index"][0]["results"][0]["dataset"]["split"] == "validation"


def test_a_path_under_a_local_folder_is_never_read_from_the_hub(lm_run, tmp_path, monkeypatch):
    def never(*a, **k):
        raise AssertionError("a local-looking path went to the Hub")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", never)
    monkeypatch.chdir(tmp_path)  # holds play/ (lm_run): play/typo is a missing local run
    with pytest.raises(CheckpointError, match="play/typo is not a folder"):
        textrnn.load("play/typo")


def test_save_pretrained_keeps_a_readme_of_the_users_own(lm_run):
    (lm_run / "README.md").write_text("# my notes\n")
    run = textrnn.load(lm_run)
    textrnn.save_pretrained(lm_run, run.model, run.tokenizer)
    assert (lm_run / "README.md").read_text() == "# my notes\n"
