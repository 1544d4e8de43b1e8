"""The OpenAI-compatible completions API, checked with the official `openai` client against a
live `textrnn serve` process on loopback (with an API key), and its log-probabilities
against the model's own scores."""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import torch

openai = pytest.importorskip("openai")
pytest.importorskip("uvicorn")

import textrnn  # noqa: E402
from textrnn.serve.openai import CHAT_STOPS, Message, chat_prompt  # noqa: E402

from conftest import save_play_lm  # noqa: E402

KEY = "test-key-1234"
SAMPLING = dict(temperature=1.0, top_p=1.0)  # OpenAI's defaults, given to both sides


def continuations(lm, prompt: str, **kw) -> list[str]:
    """The library's texts for `prompt` without it (generate returns prompt + continuation)."""
    return [t[len(prompt):] for t in lm.generate(prompt, top_k=0, **SAMPLING, **kw)]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(base URL, run folder) of `textrnn serve RUN --port 0`, its key in TEXTRNN_API_KEY."""
    root = tmp_path_factory.mktemp("openai")
    run = save_play_lm(root / "play")
    env = {**os.environ, "TEXTRNN_API_KEY": KEY}
    proc = subprocess.Popen([sys.executable, "-m", "textrnn", "serve", str(run), "--port", "0", "--max-n", "4"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert " at http://" in line, line + proc.stderr.read()
        yield line.split(" at ")[1].split()[0].rstrip("/"), run
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def client(served):
    return openai.OpenAI(base_url=served[0] + "/v1", api_key=KEY, max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def lm(served):
    return textrnn.load(served[1])


def test_a_completion_is_the_librarys_text_with_usage_in_tokens(client, lm):
    got = client.completions.create(model="play", prompt="ANNA:", max_tokens=24, seed=5, **SAMPLING)
    (expected,) = continuations(lm, "ANNA:", max_new_tokens=24, seed=5)
    assert got.object == "text_completion" and got.choices[0].text == expected
    assert got.choices[0].finish_reason == "length"
    prompt_tokens = len(lm.encode_prompt("ANNA:"))
    assert (got.usage.prompt_tokens, got.usage.completion_tokens) == (prompt_tokens, 24)
    assert got.usage.total_tokens == prompt_tokens + 24


def test_a_streamed_completion_joins_to_the_same_text(client):
    whole = client.completions.create(model="play", prompt="BORIS:", max_tokens=30, seed=2, **SAMPLING)
    chunks = list(client.completions.create(model="play", prompt="BORIS:", max_tokens=30, seed=2,
                                            stream=True, **SAMPLING))
    assert "".join(c.choices[0].text for c in chunks) == whole.choices[0].text
    assert chunks[-1].choices[0].finish_reason == "length"


def test_n_with_a_seed_gives_seed_plus_i_as_the_library_does(client, lm):
    got = client.completions.create(model="play", prompt="CLÉO:", max_tokens=16, n=3, seed=40, **SAMPLING)
    texts = [c.text for c in sorted(got.choices, key=lambda c: c.index)]
    assert texts == continuations(lm, "CLÉO:", max_new_tokens=16, seed=40, num_samples=3)
    assert texts == [continuations(lm, "CLÉO:", max_new_tokens=16, seed=40 + i)[0] for i in range(3)]
    assert len(set(texts)) > 1


def test_stop_strings_cut_the_text(client, lm):
    free = continuations(lm, "ANNA:", max_new_tokens=60, seed=1)[0]
    stops = [free[10:12], "no such stop"]  # a stop string this seed's text reaches
    got = client.completions.create(model="play", prompt="ANNA:", max_tokens=60, seed=1, stop=stops,
                                    **SAMPLING)
    expected = continuations(lm, "ANNA:", max_new_tokens=60, seed=1, stop=stops)[0]
    assert got.choices[0].text == expected == free[:free.index(stops[0])]
    assert got.choices[0].finish_reason == "stop"


def test_chat_renders_the_messages_as_role_lines(client, lm):
    messages = [{"role": "system", "content": "Speak as in a play."}, {"role": "user", "content": "Who waits?"}]
    got = client.chat.completions.create(model="play", messages=messages, max_tokens=20, seed=3, **SAMPLING)
    prompt = chat_prompt([Message(**m) for m in messages])
    assert prompt == "system: Speak as in a play.\nuser: Who waits?\nassistant:"
    expected = continuations(lm, prompt, max_new_tokens=20, seed=3, stop=CHAT_STOPS)[0]
    assert got.choices[0].message.role == "assistant"
    assert got.choices[0].message.content == expected.lstrip(" ")
    streamed = client.chat.completions.create(model="play", messages=messages, max_tokens=20, seed=3,
                                              stream=True, **SAMPLING)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == expected.lstrip(" ")


def test_models_list_and_bad_requests(client):
    assert [m.id for m in client.models.list()] == ["play"]
    with pytest.raises(openai.NotFoundError, match="no language model 'nope'"):
        client.completions.create(model="nope", prompt="A", max_tokens=3)
    with pytest.raises(openai.APIStatusError) as err:
        client.completions.create(model="play", prompt="A", max_tokens=3, n=5)
    assert err.value.status_code == 413 and "--max-n" in err.value.message
    with pytest.raises(openai.UnprocessableEntityError, match="temperature"):
        client.completions.create(model="play", prompt="A", max_tokens=3, temperature=-1)
    with pytest.raises(openai.UnprocessableEntityError, match="empty list"):
        client.completions.create(model="play", prompt=[], max_tokens=3)


def test_a_wrong_or_missing_key_is_refused_but_the_page_is_not(served):
    wrong = openai.OpenAI(base_url=served[0] + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="API key is wrong"):
        wrong.completions.create(model="play", prompt="A", max_tokens=3)
    for path in ("/v1/models", "/openapi.json"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(served[0] + path, timeout=10)
        assert err.value.code == 401 and "API key" in json.loads(err.value.read())["error"]
    with urllib.request.urlopen(served[0] + "/", timeout=10) as page:
        assert page.status == 200


def test_echo_with_logprobs_scores_the_prompt_as_the_model_does(client, lm):
    text = "ANNA:\nThe sea is calm."
    got = client.completions.create(model="play", prompt=text, max_tokens=0, echo=True, logprobs=2)
    choice = got.choices[0]
    assert choice.text == text
    lp = choice.logprobs
    assert "".join(lp.tokens) == text and lp.token_logprobs[0] is None
    ids = lm.encode_prompt(text)
    with torch.no_grad():
        logits, _ = lm.model(torch.tensor([ids]))
    nll = torch.nn.functional.cross_entropy(logits[0, :-1].float(), torch.tensor(ids[1:]), reduction="sum")
    assert sum(lp.token_logprobs[1:]) == pytest.approx(-nll.item(), abs=1e-3)
    assert all(len(top) == 2 for top in lp.top_logprobs[1:])
    odd = "ANNA: café été calm"  # characters the play never holds read as <unk>
    o = client.completions.create(model="play", prompt=odd, max_tokens=0, echo=True, logprobs=1).choices[0].logprobs
    assert "".join(o.tokens) == odd  # each token is the prompt's own text, placed where it is
    assert all(odd[at:].startswith(tok) for at, tok in zip(o.text_offset, o.tokens))
    generated = client.completions.create(model="play", prompt="ANNA:", max_tokens=8, seed=0, logprobs=1)
    g = generated.choices[0].logprobs
    assert "".join(g.tokens) == generated.choices[0].text and len(g.token_logprobs) == 8
    assert all(v <= 0 for v in g.token_logprobs)


def test_a_request_refused_for_a_full_line_leaves_nothing_running(tmp_path):
    from fastapi.testclient import TestClient
    from textrnn.serve import ServeConfig, create_app

    run = save_play_lm(tmp_path / "play")
    app = create_app([run], ServeConfig(max_streams=1, max_waiting=1, max_tokens=10**6))
    with TestClient(app, base_url="http://localhost") as c:
        refused = c.post("/v1/completions", json={"prompt": ["A", "B", "C"], "max_tokens": 10**6})
        assert refused.status_code == 503 and refused.json()["error"]["type"] == "server_overloaded"
        deadline = time.time() + 10
        while c.get("/v1/health").json()["streams"]["play"]["active"] and time.time() < deadline:
            time.sleep(0.05)
        assert c.get("/v1/health").json()["streams"]["play"] == {"active": 0, "waiting": 0,
                                                                 "peak": pytest.approx(1, abs=1)}


def test_an_empty_api_key_is_refused_not_taken_as_none(monkeypatch):
    from textrnn import ConfigError
    from textrnn.serve import ServeConfig

    with pytest.raises(ConfigError, match="empty"):
        ServeConfig(api_key=" ").key()
    monkeypatch.setenv("TEXTRNN_API_KEY", "")
    with pytest.raises(ConfigError, match="TEXTRNN_API_KEY is empty"):
        ServeConfig().key()
