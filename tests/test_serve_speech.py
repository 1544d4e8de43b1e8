"""A speech recogniser on `textrnn serve`: POST /v1/transcribe (base64 audio in JSON) and the
OpenAI-shaped POST /v1/audio/transcriptions (multipart, checked with the official client),
each giving the library's transcript, and every bad upload refused with one line."""
import base64

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

import textrnn  # noqa: E402
from textrnn.data.audio import wav_bytes  # noqa: E402
from textrnn.data.bundled import SAMPLE_DATA  # noqa: E402
from textrnn.serve import ServeConfig, create_app  # noqa: E402

from conftest import save_play_lm, save_tiny_speech  # noqa: E402
from test_serve import LOCAL, assert_one_line_error  # noqa: E402

CLIP = SAMPLE_DATA / "speech_sample" / "clips" / "test_000.ogg"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("speech_served")
    return {"asr": save_tiny_speech(root / "asr"), "play": save_play_lm(root / "play")}


@pytest.fixture(scope="module")
def client(runs):
    cfg = ServeConfig(max_body_kb=8, max_audio_kb=64, max_audio_seconds=5, max_beam=8)
    with TestClient(create_app([runs["asr"], runs["play"]], cfg), base_url=LOCAL) as c:
        yield c


@pytest.fixture(scope="module")
def asr(runs):
    return textrnn.load(runs["asr"])


def speech(seconds: float, rate: int = 8000) -> bytes:
    """A WAV of a chirp with a little noise: sound the reader accepts."""
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * (200 + 300 * t) * t) + 0.01 * np.random.default_rng(0).normal(size=len(t))
    return wav_bytes(x, rate)


def as_b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_transcribe_gives_the_library_s_transcript_past_the_body_cap(client, asr):
    clip = speech(1.8)  # 28 KiB of WAV, 38 in base64: over --max-body-kb 8, under --max-audio-kb 64
    got = client.post("/v1/transcribe", json={"audio": as_b64(clip), "beam": 4})
    assert got.status_code == 200, got.text
    want = asr.transcribe([clip], beam=4)[0]
    assert got.json() == {"model": "asr", **want, "seconds": 1.8}
    assert all(0 <= w["start"] <= w["end"] <= 1.8 for w in want["words"])
    page = client.get("/v1/models").json()["models"][0]
    assert page["panel"] == "/panels/speech.js" and page["sample_rate"] == 8000
    assert "AudioWorklet" in client.get("/panels/speech.js").text


def test_the_openai_client_transcribes_in_each_response_format(client, asr):
    openai = pytest.importorskip("openai")
    api = openai.OpenAI(base_url=LOCAL + "/v1", api_key="none", http_client=client, max_retries=0)
    want = asr.transcribe([str(CLIP)])[0]
    with open(CLIP, "rb") as f:
        assert api.audio.transcriptions.create(model="asr", file=f).text == want["text"]
    with open(CLIP, "rb") as f:
        full = api.audio.transcriptions.create(model="asr", file=f, response_format="verbose_json",
                                               timestamp_granularities=["word"])
    assert full.text == want["text"] and [w.word for w in full.words] == [w["word"] for w in want["words"]]
    assert full.duration == pytest.approx(1.659, abs=1e-3)
    with open(CLIP, "rb") as f:
        srt = api.audio.transcriptions.create(model="asr", file=f, response_format="srt")
    assert srt.startswith("1\n00:00:00,") and want["words"][0]["word"] in srt
    with pytest.raises(openai.NotFoundError, match="no model 'whisper-1'"):
        api.audio.transcriptions.create(model="whisper-1", file=CLIP.read_bytes())


SILENT = wav_bytes(np.zeros(8000), 8000)
BAD = [
    ({"audio": "not base64!"}, 422, "not base64"),
    ({"audio": as_b64(b"RIFF, but not a WAV file at all")}, 422, "the uploaded audio is not audio"),
    ({"audio": as_b64(SILENT)}, 422, "the uploaded audio is silent"),
    ({"audio": as_b64(speech(6, rate=2000))}, 413, "max-audio-seconds"),  # 6 s in 23 KiB
    ({"audio": as_b64(speech(4.5))}, 413, "max-audio-kb"),  # 70 KiB in 4.5 s
    ({"audio": as_b64(speech(1)), "beam": 9}, 413, "max-beam"),
    ({"audio": ""}, 422, "audio"),
    ({"audio": as_b64(speech(1)), "model": "play"}, 422, "/v1/generate"),
]


@pytest.mark.parametrize("body,status,says", BAD)
def test_bad_uploads_get_one_line(client, body, status, says):
    assert says in assert_one_line_error(client.post("/v1/transcribe", json=body), status)


def test_bad_openai_uploads_get_one_line_in_openai_s_shape(client):
    def error(response, status):
        assert response.status_code == status, response.text
        body = response.json()["error"]
        assert set(body) == {"message", "type", "param", "code"} and "\n" not in body["message"]
        return body["message"]

    post = lambda data, **kw: client.post("/v1/audio/transcriptions", data=data, **kw)  # noqa: E731
    assert "response_format" in error(post({"model": "asr", "response_format": "tsv"},
                                           files={"file": ("a.wav", speech(1))}), 422)
    assert "not audio" in error(post({"model": "asr"}, files={"file": ("a.txt", b"hello")}), 422)
    assert "file" in error(post({"model": "asr"}), 422)
    huge = b"\0" * 150 * 1024  # past the route's cap on bodies (64 KiB in base64, and a margin)
    assert "max-audio-kb" in error(post({"model": "asr"}, files={"file": ("a.wav", huge)}), 413)
