"""What a newcomer meets first: one set of sampling defaults through every door (the command
line, Python, the JSON API and the page), a bad value named as the caller spelled it, help
for every flag, a plain answer from an endpoint with nothing to serve, and page tabs that say
what each run is and open by address."""
import argparse
import inspect
import re
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path

import pytest

import textrnn
from textrnn import cli
from textrnn.data.bundled import SAMPLE_DATA
from textrnn.errors import ConfigError
from textrnn.inference.sampling import SamplingConfig
from textrnn.settings import resolve
from textrnn.tasks import TASKS, task_of

from conftest import CLASSIFIER_RUN, live, save_play_lm

LOCAL = "http://localhost"  # a server on a loopback address answers only local Host names
# The API's name for a sampling setting, where it is not SamplingConfig's own.
API_NAMES = {"max_new_tokens": "max_tokens"}
SHARED = ("prompt", "max_new_tokens", "temperature", "top_k", "top_p", "greedy", "seed", "stop")


@pytest.fixture(scope="module")
def play(tmp_path_factory):
    return save_play_lm(tmp_path_factory.mktemp("first") / "play")


@contextmanager
def serving(*folders):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from textrnn.serve import create_app
    with TestClient(create_app(list(folders)), base_url=LOCAL) as client:
        yield client


def one_line_error(response, status) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"] and "\n" not in body["error"]
    return body["error"]


# ---- one set of sampling defaults -------------------------------------------------------------

def textrnn_command(*args) -> subprocess.CompletedProcess:
    """The `textrnn` command as a user runs it (its own process: the command line sets how its
    process names settings)."""
    return subprocess.run([sys.executable, "-m", "textrnn", *map(str, args)], capture_output=True,
                          text=True, timeout=120)


def test_every_door_gives_the_same_text_for_a_seed_when_nothing_else_is_set(play):
    typed = textrnn_command("sample", play, "--prompt", "ANNA:", "--seed", "7", "--quiet").stdout
    python = textrnn.load(play).generate("ANNA:", seed=7)[0]
    with serving(play) as client:
        got = client.post("/v1/generate", json={"prompt": "ANNA:", "seed": 7}).json()
        hotter = client.post("/v1/generate", json={"prompt": "ANNA:", "seed": 7,
                                                   "temperature": 1.0}).json()
    assert typed == python + "\n" and got["prompt"] + got["text"] == python
    assert got["tokens"] == SamplingConfig().max_new_tokens  # the same default length too
    assert hotter["text"] != got["text"]  # the temperature left out is not 1.0, as it once was


def test_the_served_defaults_are_the_command_line_s_and_python_s(play):
    task = task_of(textrnn.load(play))
    typed_nothing = resolve(task.Use, task.use_defaults)  # what `textrnn sample RUN` runs with
    python = inspect.signature(textrnn.LanguageModel.generate).parameters
    sample_help = {a.dest: a.help for a in subcommand(cli.build_parser(), task.verb)._actions}
    with serving(play) as client:
        inputs = {i["name"]: i["default"] for i in client.get("/v1/models").json()["models"][0]["inputs"]}
        schema = request_schema(client.get("/openapi.json").json(), task.endpoint.path)
    for name in SHARED:
        cli_default, api = getattr(typed_nothing, name), API_NAMES.get(name, name)
        assert inputs[api] == cli_default, name  # the page's fields start from these
        assert schema[api].get("default") == cli_default, name
        if name in python and name != "stop":
            assert python[name].default == cli_default, name
        if cli_default not in (None, "", []) and not isinstance(cli_default, bool):  # as --help says
            assert sample_help[name].endswith(f"(default: {cli_default})"), name


def subcommand(parser, name):
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def request_schema(openapi: dict, path: str) -> dict:
    """The properties of an endpoint's request body in the OpenAPI document."""
    body = openapi["paths"][f"/v1/{path}"]["post"]["requestBody"]["content"]["application/json"]
    ref = body["schema"]["$ref"]
    return openapi["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]


# ---- a bad value, named as each door spells it ------------------------------------------------

def below_range(f):
    """A value just under a request field's lowest allowed one."""
    low = f.metadata["low"]
    return low if f.metadata["low_open"] else low - 1


def test_the_api_names_a_bad_value_by_its_json_field(play):
    task = task_of(textrnn.load(play))
    ranged = [f for f in fields(task.endpoint.request) if f.metadata.get("low") is not None]
    assert "max_tokens" in {f.name for f in ranged}
    with serving(play) as client:
        for f in ranged:
            answer = client.post(f"/v1/{task.endpoint.path}", json={f.name: below_range(f)})
            said = one_line_error(answer, 422)
            assert said.startswith(f"{f.name} must be "), said
            assert "--" not in said and "max_new_tokens" not in said


def test_the_command_line_names_it_by_its_flag_and_python_by_its_argument(play):
    ended = textrnn_command("sample", play, "--length", "0")
    said = ended.stderr
    assert ended.returncode == 2 and said.startswith("error: --length must be >= 1"), said
    assert "max_new_tokens" not in said and "max_tokens" not in said
    with pytest.raises(ConfigError, match=r"^max_new_tokens must be >= 1"):
        textrnn.load(play).generate("ANNA:", max_new_tokens=0)


# ---- help for every flag ----------------------------------------------------------------------

def walk(parser, where=("textrnn",)):
    """(where, what, text) for every description, subcommand and action help of a parser."""
    yield where, "description", parser.description
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
            continue
        if isinstance(action, argparse._SubParsersAction):
            helps = {c.dest: c.help for c in action._choices_actions}
            for name, sub in action.choices.items():
                yield where, name, helps.get(name)
                yield from walk(sub, (*where, name))
            continue
        yield where, "/".join(action.option_strings) or action.dest, action.help


def doubled(text: str) -> bool:
    """A word said twice, or a class name followed by its own last word ("LanguageModel model")."""
    # Words side by side: no comma between, neither part of a flag ("--size-steps steps").
    pairs = re.findall(r"(?=(?<![\w-])([A-Za-z]+) +([A-Za-z]+)(?![\w-]))", text)
    return any(a.lower() == b.lower() or (a.endswith(b.capitalize()) and a != b.capitalize())
               for a, b in pairs if len(b) > 2)


def recipe_parsers(monkeypatch):
    """The parsers textrnn.parse_settings builds for each task (as the recipes call it, with
    and without sampling flags) and the fine-tuning recipe's, caught before they parse."""
    caught = []

    def catch(self, *args, **kwargs):
        caught.append(self)
        raise LookupError("caught")
    monkeypatch.setattr(textrnn.commands.Parser, "parse_args", catch)
    calls = [lambda t=t: textrnn.parse_settings(t, [], description="a recipe") for t in TASKS]
    calls += [lambda: textrnn.parse_settings(next(iter(TASKS)), [], description="a recipe",
                                             sampling={"num_samples": 3}),
              lambda: textrnn.stages.parse_finetune([], description="a recipe")]
    for call in calls:
        with pytest.raises(LookupError):
            call()
    return caught


def test_every_command_and_flag_of_textrnn_says_what_it_does():
    seen = list(walk(cli.build_parser()))
    missing = [(w, what) for w, what, text in seen if not (text or "").strip()]
    assert not missing, missing
    named = {w for _, what, _ in seen for w in what.split("/")}
    assert named >= {"run_dir", "--device", "--debug", "--length"}
    for where, what, text in seen:
        if what == "description":  # each --help page opens with a sentence
            assert text[0].isupper() and text.endswith("."), (where, text)


def test_every_flag_of_the_recipes_says_what_it_does(monkeypatch):
    parsers = recipe_parsers(monkeypatch)
    assert len(parsers) == len(TASKS) + 2
    missing = [(p.description, what) for p in parsers for _, what, text in walk(p, ())
               if not (text or "").strip()]
    assert not missing, missing


def test_no_help_text_says_a_word_twice(monkeypatch):
    texts = [text for p in [cli.build_parser(), *recipe_parsers(monkeypatch)] for _, _, text in walk(p)]
    assert not [t for t in texts if doubled(t or "")]
    assert doubled("train a LanguageModel model") and doubled("the the run")
    assert not doubled("the other one") and not doubled("cuda, cuda:N")
    assert not doubled("takes --size-steps steps") and not doubled("a language model")


# ---- an endpoint with nothing to serve --------------------------------------------------------

def test_an_endpoint_whose_task_has_no_run_here_says_what_to_serve(play):
    with serving(play, CLASSIFIER_RUN) as client:
        served = {m["task"] for m in client.get("/v1/models").json()["models"]}
        unserved = [t for name, t in TASKS.items() if t.endpoint is not None and name not in served]
        assert unserved
        for task in unserved:
            for body in ({}, {"colour": "red"}):  # what to serve comes before what the body lacks
                said = one_line_error(client.post(f"/v1/{task.endpoint.path}", json=body), 404)
                noun = task.Loaded.noun
                assert said.startswith(f"no {noun} is being served, so /v1/{task.endpoint.path} "), said
                assert f"pass a {noun}'s run folder to textrnn serve" in said
                assert "play (a language model)" in said and "none" not in said and " 0" not in said


# ---- examples that run on the bundled play ----------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
PROMPTS = re.compile(r"""(?:--prompt |"prompt": |generate\()["']([^"'\n]*)["']""")


def speakers() -> set[str]:
    """The names that open the bundled play's speeches ("TOBIAS:")."""
    text = (SAMPLE_DATA / "tiny_play.txt").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Z][A-Z ]+:)$", text, re.MULTILINE))


def test_every_speaker_an_example_prompts_with_speaks_in_the_bundled_play():
    files = [ROOT / "README.md", *(ROOT / "recipes").glob("*.py"),
             *[f for f in (ROOT / "textrnn").rglob("*") if f.suffix in (".py", ".js", ".html")]]
    prompts = {(f.name, p) for f in files for p in PROMPTS.findall(f.read_text(encoding="utf-8"))}
    cues = {(name, p) for name, p in prompts if re.fullmatch(r"[A-Z][A-Z ]+:", p)}
    assert ("README.md", "TOBIAS:") in cues and "ZOE:" in speakers()
    assert not {(name, p) for name, p in cues if p not in speakers()}


# ---- the page's tabs --------------------------------------------------------------------------

def test_the_run_list_gives_each_run_s_name_and_task(play):
    with serving(play, CLASSIFIER_RUN) as client:
        models = client.get("/v1/models").json()["models"]
    assert [(m["name"], m["kind"]) for m in models] == [("play", "language model"),
                                                         ("classifier", "classifier")]
    assert [m["task"] for m in models] == [task_of(textrnn.load(f)).name for f in (play, CLASSIFIER_RUN)]




def test_tabs_are_named_by_run_and_task_and_open_by_address(play):
    pytest.importorskip("fastapi")
    from test_serve_live import _browser, _wait

    browser = _browser()  # skips where no Chromium is installed
    state = ("return [...document.querySelectorAll('#models button')]"
             ".map((b) => [b.textContent, b.getAttribute('aria-pressed')])")
    try:
        with live(play, CLASSIFIER_RUN) as base:
            browser.get(base + "/#classifier")  # opened by its address: that tab, not the first
            _wait(browser, "document.querySelector('#models button[aria-pressed=true]') !== null", 20)
            assert browser.execute_script(state) == [["play · language model", "false"],
                                                     ["classifier · classifier", "true"]]
            assert browser.find_element("id", "text").is_displayed()
            assert not browser.find_element("id", "prompt").is_displayed()

            browser.find_elements("css selector", "#models button")[0].click()  # choosing sets the hash
            _wait(browser, "location.hash == '#play'", 10)
            assert browser.find_element("id", "prompt").is_displayed()
            # The language model's fields start at the server's defaults.
            with serving(play) as client:
                served = client.get("/v1/models").json()["models"][0]["inputs"]
            inputs = {i["name"]: i["default"] for i in served}
            shown = {k: float(browser.find_element("id", k).get_attribute("value"))
                     for k in ("temperature", "top_k", "top_p", "length")}
            assert shown == {"temperature": inputs["temperature"], "top_k": inputs["top_k"],
                             "top_p": inputs["top_p"], "length": inputs["max_tokens"]}

            browser.execute_script("location.hash = '#classifier'")  # back/forward, or a typed hash
            _wait(browser, "document.querySelectorAll('#models button')[1]"
                           ".getAttribute('aria-pressed') == 'true'", 10)

            browser.get(base + "/#nobody")  # a name not served: the first tab, and why
            _wait(browser, "!document.getElementById('error').hidden", 20)
            assert "nobody" in browser.find_element("id", "error").text
            assert browser.execute_script(state)[0][1] == "true"
    finally:
        browser.quit()
