"""`textrnn serve`: the API through the framework's test client, and the step batcher."""
import json
import math
import threading

import numpy as np
import pytest
import torch

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

import textrnn  # noqa: E402
from textrnn import SamplingConfig, SeriesDataConfig, TrainConfig, save_pretrained  # noqa: E402
from textrnn.serve import ServeConfig, create_app  # noqa: E402
from textrnn.serve.batcher import Busy, Job, StepBatcher  # noqa: E402
from textrnn.tokenization import UNK_ID  # noqa: E402

from conftest import CLASSIFIER_RUN as CLASSIFIER, save_play_lm  # noqa: E402
from test_forecast import forecaster_config, write_series  # noqa: E402
from test_translate import train_small  # noqa: E402

LOCAL = "http://localhost"  # a server on a loopback address answers only local Host names


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    save_play_lm(root / "play")
    series = write_series(root / "series.csv")
    textrnn.train("forecaster", SeriesDataConfig(data=str(series), target=["all"]), forecaster_config(),
                  TrainConfig(epochs=1, batch_size=16, eval_every=0, save_every=0, seed=0),
                  root / "load", show_progress=False)
    translator = train_small(root, out="trans", epochs=3)["run_dir"]
    return {"lm": root / "play", "classifier": CLASSIFIER, "forecaster": root / "load", "series": series,
            "translator": translator}


@pytest.fixture(scope="module")
def client(runs):
    cfg = ServeConfig(max_tokens=300, max_prompt_chars=100, max_texts=4, max_explain_tokens=12,
                      max_rows=500, max_body_kb=8)
    app = create_app([runs["lm"], runs["classifier"], runs["forecaster"], runs["translator"]], cfg)
    with TestClient(app, base_url=LOCAL) as c:
        yield c


@pytest.fixture(scope="module")
def lm(runs):
    return textrnn.load(runs["lm"])


def events(raw: str) -> list[tuple[str, dict]]:
    """(event, data) for each server-sent event in a response body."""
    out = []
    for block in raw.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((fields.get("event", "message"), json.loads(fields["data"])))
    return out


def assert_one_line_error(response, status):
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"] and "\n" not in body["error"] and "Traceback" not in body["error"]
    return body["error"]


# ---- what the server holds, and the page -----------------------------------------------------

def test_models_lists_every_run_with_its_task_and_config(client):
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert {n: m["task"] for n, m in models.items()} == {"play": "lm", "classifier": "classifier",
                                                         "load": "forecaster", "trans": "translator"}
    assert models["trans"]["endpoint"] == "/v1/translate"
    assert models["play"]["endpoint"] == "/v1/generate" and models["play"]["config"]["encoder"]["cell"] == "lstm"
    assert models["classifier"]["labels"] == textrnn.load(CLASSIFIER).labels
    assert models["load"]["columns"] == ["load", "temp"] and models["load"]["lookback"] == 24


def test_the_page_is_served_whole_with_nothing_from_elsewhere(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for name in ("app.js", "style.css"):
        assert f"/static/{name}" in page.text
        assert client.get(f"/static/{name}").status_code == 200
    for text in (page.text, client.get("/static/app.js").text, client.get("/static/style.css").text):
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text


def test_openapi_documents_every_endpoint(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/models", "/v1/generate", "/v1/classify", "/v1/forecast", "/v1/translate",
            "/v1/health"} <= set(paths)
    assert client.get("/docs").status_code == 200


# ---- generation -------------------------------------------------------------------------------
SETTINGS = [dict(), dict(temperature=0.7, top_k=5), dict(top_p=0.8, stop=["\n\n"]), dict(greedy=True),
            dict(temperature=0)]


@pytest.mark.parametrize("settings", SETTINGS)
def test_generate_gives_the_library_s_text_for_a_seed(client, lm, settings):
    body = {"prompt": "ANNA:", "max_tokens": 120, "seed": 7, **settings}
    got = client.post("/v1/generate", json=body).json()
    want = lm.generate("ANNA:", 120, seed=7, **settings)[0]
    assert got["prompt"] + got["text"] == want and got["seed"] == 7
    assert got["finish_reason"] == ("length" if got["tokens"] == 120 else "stop")


def test_a_server_on_onnxruntime_gives_the_library_s_text(runs, lm):
    pytest.importorskip("onnxscript", reason="the export extra installs onnxscript")
    with TestClient(create_app([runs["lm"]], ServeConfig(engine="onnxruntime")), base_url=LOCAL) as c:
        got = [c.post("/v1/generate", json={"prompt": "ANNA:", "max_tokens": 60, "seed": s}).json()
               for s in (7, 8)]
    assert [g["prompt"] + g["text"] for g in got] == [lm.generate("ANNA:", 60, seed=s)[0] for s in (7, 8)]


def test_streamed_pieces_join_to_the_whole_text(client):
    body = {"prompt": "The sea", "max_tokens": 80, "seed": 3, "stop": ["\n\n"]}
    whole = client.post("/v1/generate", json=body).json()
    with client.stream("POST", "/v1/generate", json={**body, "stream": True}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        got = events(r.read().decode())
    pieces = [d["text"] for e, d in got if e == "message"]
    assert len(pieces) > 5 and got[-1][0] == "done"
    assert "".join(pieces) == got[-1][1]["text"] == whole["text"]


def test_an_unseeded_request_reports_the_seed_that_gives_its_text_again(client):
    first = client.post("/v1/generate", json={"max_tokens": 60}).json()
    again = client.post("/v1/generate", json={"max_tokens": 60, "seed": first["seed"]}).json()
    assert again["text"] == first["text"]


def test_concurrent_requests_give_the_texts_they_give_alone(client, lm):
    bodies = [{"prompt": p, "max_tokens": 250, "seed": s, "temperature": t}
              for p, s, t in [("ANNA:", 1, 1.0), ("BORIS:", 2, 0.6), ("", 3, 1.3), ("CL", 4, 0.9)]]
    got = [None] * len(bodies)

    def ask(i):
        got[i] = client.post("/v1/generate", json=bodies[i]).json()

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for body, g in zip(bodies, got):
        assert g["text"] == lm.generate(body["prompt"], 250, seed=body["seed"],
                                        temperature=body["temperature"])[0][len(body["prompt"]):]


# ---- the batcher: streams join and leave between steps ---------------------------------------

def alone(lm, cfg: SamplingConfig) -> str:
    return lm.sample(cfg)[0][len(cfg.prompt):]


def test_streams_stepped_together_give_the_texts_they_give_alone(lm):
    published = []
    batcher = StepBatcher(lm, published.extend)
    cfgs = [SamplingConfig(prompt="ANNA:", max_new_tokens=90, seed=1),
            SamplingConfig(prompt="The sea", max_new_tokens=40, seed=2, temperature=0.7, top_k=5),
            SamplingConfig(prompt="", max_new_tokens=70, seed=3, greedy=True),
            SamplingConfig(prompt="B", max_new_tokens=100, seed=4, top_p=0.9, stop=["\n\n"])]
    jobs = [Job(c, lm.encode_prompt(c.prompt)) for c in cfgs]
    batcher.submit(jobs[0])
    batcher.submit(jobs[1])
    for _ in range(10):
        batcher.step()
    batcher.submit(jobs[2])  # joins a running batch
    batcher.step()
    batcher.submit(jobs[3])
    while batcher.active or batcher.counts()["waiting"]:
        batcher.step()
    assert batcher.peak == 4
    for job, cfg in zip(jobs, cfgs):
        assert job.result["text"] == alone(lm, cfg)
        assert "".join(p for j, p, _ in published if j is job) == job.result["text"]
        assert [r for j, _, r in published if j is job and r is not None] == [job.result]


def test_a_cancelled_stream_leaves_and_the_others_go_on(lm):
    batcher = StepBatcher(lm, lambda events: None)
    cfgs = [SamplingConfig(prompt="ANNA:", max_new_tokens=60, seed=s) for s in (5, 6, 7)]
    jobs = [Job(c, lm.encode_prompt(c.prompt)) for c in cfgs]
    for job in jobs:
        batcher.submit(job)
    for _ in range(5):
        batcher.step()
    batcher.cancel(jobs[1])
    batcher.step()
    assert batcher.counts()["active"] == 2
    assert jobs[1].result["finish_reason"] == "cancelled" and jobs[1].result["tokens"] == 5
    while batcher.active:
        batcher.step()
    assert [jobs[0].result["text"], jobs[2].result["text"]] == [alone(lm, cfgs[0]), alone(lm, cfgs[2])]


def test_a_full_batcher_refuses_more_than_it_can_hold(lm):
    batcher = StepBatcher(lm, lambda events: None, max_streams=2, max_waiting=1)
    for _ in range(3):
        batcher.submit(Job(SamplingConfig(max_new_tokens=5), [UNK_ID]))
    with pytest.raises(Busy):
        batcher.submit(Job(SamplingConfig(max_new_tokens=5), [UNK_ID]))
    batcher.step()  # two start; one waits
    assert batcher.counts() == {"active": 2, "waiting": 1, "peak": 2}


def test_a_busy_server_answers_503(runs):
    app = create_app([runs["lm"]], ServeConfig(max_streams=1, max_waiting=0))
    with TestClient(app, base_url=LOCAL) as c:
        batcher = app.state.runs.batchers["play"]
        batcher.close()  # nothing leaves the line now
        batcher.submit(Job(SamplingConfig(max_new_tokens=5), [UNK_ID]))  # the one slot
        assert "try again" in assert_one_line_error(c.post("/v1/generate", json={}), 503)


# ---- classification and forecasting ---------------------------------------------------------

def test_classify_gives_the_library_s_probabilities(client):
    texts = ["a great film", "boring and long"]
    body = client.post("/v1/classify", json={"texts": texts}).json()
    got, clf = body["results"], textrnn.load(CLASSIFIER)
    # the answer says whether its probabilities are calibrated, and by which temperature
    assert body["temperature"] == clf.temperature and body["calibrated"] == (clf.temperature != 1.0)
    for r, p in zip(got, clf.predict_proba(texts)):
        assert [r["probabilities"][label] for label in clf.labels] == pytest.approx(p.tolist(), abs=1e-6)
        assert r["label"] == clf.labels[int(p.argmax())] and "explanation" not in r


def test_token_contributions_are_the_label_s_drop_when_each_token_is_unknown(client):
    text = "a great film, truly fun"
    r = client.post("/v1/classify", json={"texts": [text], "explain": True}).json()["results"][0]
    e = r["explanation"]
    clf = textrnn.load(CLASSIFIER)
    ids = clf.tokenizer.encode(text, add_special_tokens=False).ids
    assert len(e["tokens"]) == len(ids) > 3 and "occlusion" in e["method"] and e["label"] == r["label"]
    c = clf.labels.index(r["label"])
    for i in (0, 2):
        occluded = ids[:i] + [UNK_ID] + ids[i + 1:]
        p = clf.proba_of_ids([ids, occluded])[:, c]  # at the temperature the page shows
        assert e["tokens"][i]["contribution"] == pytest.approx(float(p[0] - p[1]), abs=1e-6)
    for t in e["tokens"]:
        assert text[t["start"]:t["end"]] == t["text"] and t["text"].strip()


def test_forecast_gives_the_library_s_forecast(client, runs):
    rows = np.loadtxt(runs["series"], delimiter=",", skiprows=1, usecols=(1, 2))[-30:]
    got = client.post("/v1/forecast", json={"rows": rows.tolist()}).json()
    want = textrnn.load(runs["forecaster"]).forecast(rows)
    assert np.allclose(got["forecast"], want, atol=1e-5) and len(got["forecast"]) == 12
    assert np.allclose(got["history"], rows[-24:]) and got["targets"] == ["load", "temp"]


def test_translate_gives_the_library_s_translations_and_an_attention_map(client, runs):
    texts = ["zwei hund rennt .", "eins katze schläft ."]
    got = client.post("/v1/translate", json={"texts": texts, "beam": 3, "attention": True}).json()
    tr = textrnn.load(runs["translator"])
    assert got["translations"] == tr.translate(texts, beam=3)
    a = got["attention"]
    source, target, weights = tr.attention(texts[0])
    assert (a["source"], a["target"]) == (source, target)
    assert np.allclose(a["weights"], weights) and np.allclose(np.sum(a["weights"], 1), 1)


# ---- limits and bad requests: a 4xx with one line of JSON ------------------------------------
BAD = [
    ("/v1/generate", {"max_tokens": 301}, 413, "max-tokens"),
    ("/v1/generate", {"prompt": "x" * 101}, 413, "max-prompt-chars"),
    ("/v1/generate", {"temperature": "hot"}, 422, "temperature"),
    ("/v1/generate", {"max_tokens": 1.5}, 422, "max_tokens"),
    ("/v1/generate", {"top_p": 0}, 422, "top_p"),
    ("/v1/generate", {"temperature": -1}, 422, "temperature"),
    ("/v1/generate", {"stop": [""]}, 422, "stop"),
    ("/v1/generate", {"stop": ["x" * 201]}, 413, "max-stop-chars"),
    ("/v1/generate", {"stop": ["a"] * 9}, 422, "stop"),
    ("/v1/generate", b'{"prompt": "ANNA \\ud800"}', 422, "lone surrogate"),  # valid JSON, half a character
    ("/v1/classify", b'{"texts": ["good \\udfff film"]}', 422, "lone surrogate"),
    ("/v1/translate", b'{"texts": ["zwei \\ud800"]}', 422, "lone surrogate"),
    ("/v1/forecast", {"rows": [[1.0, 2.0]] * 23 + [[1e40, 2.0]]}, 422, "row 24"),
    ("/v1/generate", {"path": "/etc/passwd"}, 422, "unknown key"),
    ("/v1/generate", {"model": "nope"}, 404, "no model 'nope'"),
    ("/v1/generate", {"model": "classifier"}, 422, "/v1/classify"),
    ("/v1/generate", [1, 2], 422, "body"),
    ("/v1/classify", {"texts": []}, 422, "texts"),
    ("/v1/classify", {"texts": [""]}, 422, "empty"),
    ("/v1/classify", {"texts": ["good"] * 5}, 413, "max-texts"),
    ("/v1/classify", {"texts": ["good " * 15], "explain": True}, 422, "tokens"),
    ("/v1/forecast", {"rows": [[1.0, 2.0]] * 10}, 422, "24"),
    ("/v1/forecast", {"rows": [[1.0]] * 30}, 422, "one per column"),
    ("/v1/forecast", {"rows": [[1.0, 2.0]] * 501}, 413, "max-rows"),
    ("/v1/translate", {"texts": ["zwei"], "beam": 0}, 422, "beam"),
    ("/v1/translate", {"texts": ["zwei"], "beam": 17}, 413, "max-beam"),
    ("/v1/translate", {"texts": ["zwei"], "model": "play"}, 422, "/v1/generate"),
]


@pytest.mark.parametrize("path,body,status,says", BAD)
def test_bad_requests_get_one_line(client, path, body, status, says):
    if isinstance(body, bytes):  # sent as written
        response = client.post(path, content=body, headers={"content-type": "application/json"})
    else:
        response = client.post(path, json=body)
    assert says in assert_one_line_error(response, status)


def test_unreadable_and_oversized_bodies_get_one_line(client):
    headers = {"content-type": "application/json"}
    assert "JSON" in assert_one_line_error(client.post("/v1/generate", content=b"{oops", headers=headers), 422)
    big = json.dumps({"texts": ["a" * 9000]}).encode()
    assert "max-body-kb" in assert_one_line_error(client.post("/v1/classify", content=big, headers=headers), 413)
    rows = "[" + ",".join(["[1.0, NaN]"] * 30) + "]"
    said = assert_one_line_error(client.post("/v1/forecast", content=f'{{"rows": {rows}}}', headers=headers), 422)
    assert "NaN" in said
    assert_one_line_error(client.get("/v1/nothing"), 404)
    assert_one_line_error(client.get("/v1/generate"), 405)


def test_a_missing_extra_is_one_line(monkeypatch, runs):
    import sys

    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(textrnn.ConfigError, match=r"pip install 'textrnn\[serve\]'"):
        create_app([runs["lm"]])


def test_a_run_folder_of_no_servable_kind_or_none_at_all_is_refused(tmp_path):
    with pytest.raises(textrnn.ConfigError, match="no run folder"):
        create_app([])
    with pytest.raises(textrnn.TextRNNError, match="not a folder"):
        create_app([tmp_path / "missing"])


def test_weights_an_engine_cannot_run_are_refused_before_serving(runs):
    with pytest.raises(textrnn.ConfigError, match="runs fp32 or int8 weights, not bf16"):
        create_app([runs["lm"]], ServeConfig(engine="onnxruntime", weights="bf16"))


def test_nan_scores_end_the_request_with_one_line(runs, tmp_path):
    lm = textrnn.load(runs["lm"])
    with torch.no_grad():
        lm.model.head.proj.weight.fill_(math.nan)
    save_pretrained(tmp_path / "broken", lm.model, lm.tokenizer)
    with TestClient(create_app([tmp_path / "broken"]), base_url=LOCAL) as c:
        assert "NaN" in assert_one_line_error(c.post("/v1/generate", json={"max_tokens": 5}), 500)


def test_contributions_of_a_cut_text_are_those_of_the_tokens_the_classifier_reads():
    from textrnn.tasks.explain import contributions
    from textrnn.tokenization import truncate

    clf = textrnn.load(CLASSIFIER)
    text = "i hated it but the ending was great fun"
    truncate(clf.tokenizer, 4, keep_end=True)  # the classifier reads the last 4 tokens
    e = contributions(clf, text, max_tokens=10)
    assert [t["text"].strip() for t in e["tokens"]] == text.split()[-4:]


def test_a_tiny_top_p_keeps_the_likeliest_token_and_never_pads(client):
    got = client.post("/v1/generate", json={"prompt": "ANNA:", "max_tokens": 40, "top_p": 1e-300,
                                           "seed": 1}).json()
    greedy = client.post("/v1/generate", json={"prompt": "ANNA:", "max_tokens": 40, "greedy": True}).json()
    assert got["text"] == greedy["text"] and "<pad>" not in got["text"] and "<unk>" not in got["text"]


# ---- which Host names a server on a loopback address answers (DNS rebinding) ----------------
@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "LOCALHOST:8000", "localhost.:8000",
                                  "127.0.0.1:8000", "127.0.0.2", "[::1]:8000", "[::1]"])
def test_a_loopback_server_answers_the_names_of_this_machine(client, host):
    assert client.get("/v1/health", headers={"host": host}).status_code == 200


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8000", "localhost.attacker.example",
                                  "127.0.0.1.attacker.example:8000", "10.0.0.5:8000"])
def test_a_loopback_server_refuses_any_other_host_name(client, host):
    for response in (client.get("/v1/models", headers={"host": host}),
                     client.post("/v1/generate", json={"max_tokens": 5}, headers={"host": host}),
                     client.get("/", headers={"host": host})):
        assert "--allowed-host" in assert_one_line_error(response, 403)


def asgi_get(app, path: str, headers: list) -> tuple[int, dict]:
    """(status, JSON body) of a GET sent straight to the app with exactly these headers."""
    import asyncio
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "headers": headers,
             "query_string": b"", "http_version": "1.1", "scheme": "http", "root_path": "",
             "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 5000)}
    asyncio.run(app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body)


def test_a_request_with_no_host_or_two_is_refused(runs):
    app = create_app([runs["lm"]])
    status, body = asgi_get(app, "/v1/models", [])
    assert status == 403 and "no Host" in body["error"]
    status, body = asgi_get(app, "/v1/models", [(b"host", b"localhost"), (b"host", b"attacker.example")])
    assert status == 403 and "more than one Host" in body["error"]


def test_allowed_host_adds_a_name_and_only_that_one(runs):
    app = create_app([runs["lm"]], ServeConfig(allowed_host=["host.docker.internal"]))
    with TestClient(app, base_url="http://host.docker.internal:8000") as c:
        assert c.get("/v1/health").status_code == 200
        assert_one_line_error(c.get("/v1/health", headers={"host": "other.internal"}), 403)


def test_a_server_on_another_interface_checks_no_host_and_says_what_it_exposes(runs, monkeypatch, capsys):
    import uvicorn

    from textrnn import cli
    with TestClient(create_app([runs["lm"]], ServeConfig(host="0.0.0.0")), base_url="http://box.lan") as c:
        assert c.get("/v1/health").status_code == 200
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: None)
    cli.main(["serve", str(runs["lm"]), "--host", "0.0.0.0", "--port", "0"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "--host 0.0.0.0 is not a loopback address" in lines[1]
    cli.main(["serve", str(runs["lm"]), "--port", "0"])  # loopback: the one line it always says
    assert len(capsys.readouterr().out.splitlines()) == 1


# ---- the step batcher's edges ------------------------------------------------------------------
def test_streams_that_finish_in_a_round_that_then_fails_get_their_results(lm, monkeypatch):
    results, done = {}, threading.Event()

    def publish(events):
        results.update({id(job): result for job, _, result in events if result is not None})
        if len(results) == 2:
            done.set()

    batcher = StepBatcher(lm, publish, max_streams=4)
    short = Job(SamplingConfig(max_new_tokens=1, seed=1), [UNK_ID])
    long = Job(SamplingConfig(max_new_tokens=9, seed=2), [UNK_ID])

    def broken(ids, state):
        raise RuntimeError("the device went away")

    monkeypatch.setattr(batcher.stepper, "step", broken)  # the round ends `short`, then fails
    batcher.submit(short)
    batcher.submit(long)
    batcher.start()
    try:
        assert done.wait(timeout=30), results
    finally:
        batcher.close()
    assert results[id(short)]["finish_reason"] == "length" and results[id(short)]["tokens"] == 1
    assert results[id(long)]["finish_reason"] == "error" and "went away" in results[id(long)]["error"]


def test_a_job_draws_from_a_generator_on_the_model_s_device(lm, monkeypatch):
    """No GPU here: torch.Generator is replaced by a recorder that stands a CPU generator in
    for the device it was asked for."""
    asked = []
    real = torch.Generator

    def recording(device="cpu"):
        asked.append(torch.device(device))
        return real()

    batcher = StepBatcher(lm, lambda events: None)
    job = Job(SamplingConfig(max_new_tokens=2, seed=3), [UNK_ID])
    monkeypatch.setattr(torch, "Generator", recording)
    job.start(torch.device("cuda", 1))
    assert asked == [torch.device("cuda", 1)]
    monkeypatch.undo()
    batcher.submit(job)
    batcher.step()  # admitted: started again, where this batcher's model is
    assert job.generator.device == next(lm.model.parameters()).device
