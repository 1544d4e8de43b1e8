"""`textrnn serve` as users run it: a real server process on loopback, real sockets, and
(where one is installed) a real headless Chromium driving the page."""
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from conftest import CLASSIFIER_RUN as CLASSIFIER, save_play_lm, save_tiny_speech  # noqa: E402
from textrnn.data.audio import Clip, read_audio, wav_bytes  # noqa: E402
from textrnn.data.bundled import SAMPLE_DATA  # noqa: E402

CLIP = SAMPLE_DATA / "speech_sample" / "clips" / "test_000.ogg"

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The base URL of `textrnn serve LM CLASSIFIER ASR --port 0`, running until the module ends."""
    root = tmp_path_factory.mktemp("live")
    save_play_lm(root / "play")
    save_tiny_speech(root / "asr")
    proc = subprocess.Popen([sys.executable, "-m", "textrnn", "serve", str(root / "play"), str(CLASSIFIER),
                             str(root / "asr"),
                             "--port", "0", "--max-tokens", "1000000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # "serving ... at http://127.0.0.1:PORT/ ..."
        assert " at http://" in line, line + proc.stderr.read()
        yield line.split(" at ")[1].split()[0].rstrip("/")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def active_streams(base: str) -> int:
    return get(base + "/v1/health")["streams"]["play"]["active"]


def test_a_client_that_disconnects_mid_stream_frees_its_slot(server):
    host, port = server.removeprefix("http://").split(":")
    body = json.dumps({"max_tokens": 1000000, "stream": True}).encode()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"POST /v1/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        got = b""
        while b"data: " not in got:  # the headers, then the stream's first pieces
            got += s.recv(4096)
        assert active_streams(server) == 1
    deadline = time.time() + 10
    while active_streams(server) and time.time() < deadline:
        time.sleep(0.05)
    assert active_streams(server) == 0
    request = urllib.request.Request(server + "/v1/generate", json.dumps({"max_tokens": 20}).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as r:  # and the server still serves
        assert json.loads(r.read())["tokens"] == 20


def test_a_client_that_disconnects_from_a_plain_request_frees_its_slot(server):
    host, port = server.removeprefix("http://").split(":")
    body = json.dumps({"max_tokens": 1000000}).encode()  # not streamed: one answer at the end
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"POST /v1/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        deadline = time.time() + 10
        while not active_streams(server) and time.time() < deadline:
            time.sleep(0.02)
        assert active_streams(server) == 1
    deadline = time.time() + 10  # the client is gone; its million tokens must not be made
    while active_streams(server) and time.time() < deadline:
        time.sleep(0.05)
    assert active_streams(server) == 0


def test_a_rebound_host_name_is_refused_by_the_real_server(server):
    request = urllib.request.Request(server + "/v1/models", headers={"Host": "attacker.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403 and "--allowed-host" in json.loads(refused.value.read())["error"]


def _browser(*flags):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    binary = next((shutil.which(b) for b in ("chromium", "chromium-browser") if shutil.which(b)), None)
    driver = shutil.which("chromedriver")
    if binary is None or driver is None:
        pytest.skip("no Chromium here: install Debian's chromium and chromium-driver packages "
                    "(apt-get install chromium chromium-driver) to run the browser test")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", *flags):
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))


def test_the_page_streams_text_and_classifies_in_a_real_browser(server):
    browser = _browser()
    try:
        browser.get(server + "/")
        wait = lambda cond, secs=20: _wait(browser, cond, secs)  # noqa: E731
        wait("document.querySelectorAll('#models button').length == 3")
        length = browser.find_element("id", "length")
        length.clear()
        length.send_keys("3000")
        browser.find_element("id", "prompt").send_keys("ANNA:")
        browser.find_element("id", "generate").click()
        seen = set()  # lengths of the text seen while it was still coming in
        deadline = time.time() + 60
        while browser.execute_script("return document.getElementById('output').dataset.state") != "done":
            assert time.time() < deadline
            seen.add(browser.execute_script("return document.getElementById('generated').textContent.length"))
        final = browser.find_element("id", "generated").text
        arrivals = browser.execute_script("return window.textrnnArrivals")
        assert len(seen - {0}) >= 3, seen  # the text grew while the page watched
        assert len(arrivals) >= 100 and arrivals == sorted(arrivals) and arrivals[-1] > arrivals[0]
        assert "3000 tokens" in browser.find_element("id", "lm-status").text and len(final) > 1000

        length.clear()
        length.send_keys("1000000")  # minutes of text: the stop button ends it
        browser.find_element("id", "generate").click()
        wait("document.getElementById('generated').textContent.length > 100")
        browser.find_element("id", "stop").click()
        wait("document.getElementById('output').dataset.state == 'stopped'")
        deadline = time.time() + 10
        while active_streams(server) and time.time() < deadline:  # its slot is freed
            time.sleep(0.05)
        assert active_streams(server) == 0

        browser.find_elements("css selector", "#models button")[1].click()
        browser.find_element("id", "text").send_keys("a great film, truly fun")
        browser.find_element("id", "classify").click()
        wait("document.querySelectorAll('#bars .bar').length == 2")
        assert len(browser.find_elements("css selector", "#tokens span")) >= 4
        assert "occlusion" in browser.find_element("id", "method").text
        assert not browser.find_element("id", "error").is_displayed()
    finally:
        browser.quit()


def test_the_page_transcribes_a_file_and_the_microphone_in_a_real_browser(server, tmp_path):
    # Chromium's fake microphone plays a WAV file: a bundled clip, at the 48 kHz browsers
    # record at (the page resamples it to the model's 8 kHz before sending it).
    voice = tmp_path / "voice.wav"
    voice.write_bytes(wav_bytes(read_audio(Clip(path=str(CLIP)), 48000), 48000))
    browser = _browser("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                       f"--use-file-for-fake-audio-capture={voice}")
    try:
        browser.get(server + "/#asr")
        wait = lambda cond, secs=20: _wait(browser, cond, secs)  # noqa: E731
        wait("document.getElementById('record') !== null && !document.getElementById('panel-speech').hidden")
        browser.find_element("id", "audio-file").send_keys(str(CLIP))
        browser.find_element("id", "transcribe-file").click()
        wait("document.getElementById('transcript').dataset.state == 'done'")
        assert "test_000.ogg: 1.66 s of audio" in browser.find_element("id", "speech-status").text

        browser.find_element("id", "record").click()
        wait("document.getElementById('transcript').dataset.state == 'recording'")
        time.sleep(1.5)
        browser.find_element("id", "record").click()
        wait("document.getElementById('transcript').dataset.state == 'done'")
        said = browser.find_element("id", "speech-status").text  # "the recording: 1.53 s of audio, ..."
        assert said.startswith("the recording: "), said
        assert 1.0 < float(said.split(": ")[1].split(" s ")[0]) < 5
        assert browser.execute_script("return document.getElementById('playback').src").startswith("blob:")
        assert not browser.find_element("id", "error").is_displayed()
    finally:
        browser.quit()


def _wait(browser, condition: str, seconds: float) -> None:
    deadline = time.time() + seconds
    while not browser.execute_script("return " + condition):
        assert time.time() < deadline, condition
        time.sleep(0.05)
