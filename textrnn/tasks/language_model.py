"""A trained language model with its tokenizer (what `textrnn.load` returns for an "lm"
run): generation, scoring, and its two doors, `textrnn sample` and POST /v1/generate."""
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data import Corpus, batchify, encode_stream, num_windows, open_corpus, window
from ..device import autocast
from ..errors import ConfigError
from ..inference.onnx_graph import StepGraph
from ..inference.sampling import SamplingConfig, sample
from ..metrics import lm_metrics
from ..models import evaluating
from ..settings import default_of, setting
from ..tokenization import UNK_ID, check_characters, decode, encode
from ..world import World
from .base import LoadedRun

log = logging.getLogger("textrnn")


@dataclass
class SampleSettings(SamplingConfig):
    """`textrnn sample`: the sampling settings, and how the text is printed."""
    stream: bool = setting(True, "print the text as it grows (off: once it is done)")
    json: bool = setting(False, "one JSON object per sample")


@dataclass
class LMEvaluation:
    """`textrnn evaluate` on a language model: its loss, bits per character and perplexity."""
    text_column: str | None = setting(None, "column holding the text in tables and Hub datasets")
    split: str = setting("test", "dataset split of --data for Hub ids")


def sampling_field(name: str, **changes):
    """SamplingConfig's field `name` for a request: its default, range and help (so the API
    samples and checks as the command line does), without its flag, so a bad value is named
    by the request's own field (`max_tokens`, not --length)."""
    f = SamplingConfig.__dataclass_fields__[name]
    return setting(default_of(f), **{**f.metadata, "flag": None, "nargs": None, **changes})


@dataclass
class GenerateRequest:
    """POST /v1/generate's body: SamplingConfig's settings under the API's names."""
    prompt: str = sampling_field("prompt")
    max_tokens: int = sampling_field("max_new_tokens", help="new tokens at most (a server caps "
                                     "it at its --max-tokens)")
    temperature: float = sampling_field("temperature")
    top_k: int = sampling_field("top_k")
    top_p: float = sampling_field("top_p")
    greedy: bool = sampling_field("greedy")
    seed: int | None = sampling_field("seed", help="same seed, same text; the response says the "
                                      "seed it used")
    stop: list[str] = sampling_field("stop", help="stop strings: the text is cut before one")
    stream: bool = setting(False, "send the text as server-sent events, piece by piece")


@torch.no_grad()
def lm_nll(model, ids, device, precision="fp32", batch_size=1, bptt=1024, world=World()):
    """Summed next-token NLL over a stream, read as `batch_size` columns with the state
    carried across windows. batch_size=1 reads the text exactly once, as one stream.
    Under torchrun each rank reads its block of the columns and the sums are added up."""
    stream = batchify(ids, batch_size)[world.share(batch_size)]  # (B / ranks, N)
    total, count, state = 0.0, 0, None
    with evaluating(model):
        for i in range(num_windows(stream, bptt) if len(stream) else 0):
            x, y = (t.to(device) for t in window(stream, i, bptt))
            with autocast(device, precision):
                nll, state = model(x, state, targets=y, reduction="sum")
            total += nll.item()
            count += y.numel()
    total, count = world.sum([total, count]).tolist()
    return total, int(count)


def stream_metrics(model, ids, chars: int, device, precision, world) -> dict:
    """The loss, bits per character and perplexity of a whole stream, read once in order."""
    nll, n = lm_nll(model, ids, device, precision, world=world)
    return lm_metrics(nll, n, chars)


DEFAULTS = SamplingConfig()  # generate()'s defaults: SamplingConfig's, as every door's


class LanguageModel(LoadedRun):
    """A trained next-token model with its tokenizer: generate text, score text."""
    noun = "language model"

    def __init__(self, model, tokenizer, run_dir=None, step=0):
        super().__init__(model, tokenizer, run_dir, step)
        self._pieces = None

    def pieces(self) -> list[str]:
        """The text of every token id, for streaming output one token at a time."""
        if self._pieces is None:
            self._pieces = [decode(self.tokenizer, [i]) for i in range(self.tokenizer.get_vocab_size())]
        return self._pieces

    def encode_prompt(self, prompt: str) -> list[int]:
        if self.model.cfg.head.reverse:
            raise ConfigError("this language model reads text backwards (trained with --reverse), "
                              "so it cannot continue a prompt; it scores text, and a tagger reads it "
                              "with --embeddings FORWARD_LM BACKWARD_LM")
        ids = encode(self.tokenizer, check_characters(prompt, "the prompt"))
        if UNK_ID in ids:
            unseen = sorted({c for c in prompt if encode(self.tokenizer, c) == [UNK_ID]})
            log.warning("the prompt holds text the model never saw (%s); it is read as <unk>",
                        " ".join(repr(c) for c in unseen[:10]) or "unknown words")
        if not ids:  # an empty prompt starts the text at a line break, if the model knows one
            newline = encode(self.tokenizer, "\n")
            ids = newline if newline and UNK_ID not in newline else [UNK_ID]
        return ids

    def generate(self, prompt: str = "", max_new_tokens: int = DEFAULTS.max_new_tokens,
                 temperature: float = DEFAULTS.temperature, top_k: int = DEFAULTS.top_k,
                 top_p: float = DEFAULTS.top_p, seed=None, num_samples: int = 1,
                 greedy: bool = False, stop=(), on_token=None, weights: str = "fp32",
                 beam: int = 1, engine: str = "torch") -> list[str]:
        """`num_samples` texts, each the prompt followed by its continuation.

        temperature 0 or greedy=True picks the most likely token; `stop` strings end a
        sample (cut before the stop string); `on_token(text)` streams sample 0 as it grows;
        `weights` "bf16" or "int8" samples faster on a CPU from smaller weights, and
        `engine` "onnxruntime" with int8 faster still; `beam` > 1 returns the likeliest
        continuation a beam search of that width finds.
        """
        cfg = SamplingConfig(max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k,
                             top_p=top_p, greedy=greedy, num_samples=num_samples, seed=seed,
                             stop=list(stop), prompt=prompt, weights=weights, beam=beam,
                             engine=engine)
        return self.sample(cfg, on_token)

    def sample(self, cfg: SamplingConfig, on_token=None) -> list[str]:
        """As `generate`, with the settings (the prompt among them) in one object."""
        ids = self.encode_prompt(cfg.validate().prompt)
        return [cfg.prompt + c for c in sample(self.model, ids, cfg, self.pieces(), on_token)]

    def evaluate(self, text_or_path, precision: str = "fp32") -> dict:
        """Loss (nats/token), bits per character and perplexity of a text (or a file or
        dataset given by path), read as one stream with the state carried throughout."""
        text = open_corpus(text_or_path) if _is_path(text_or_path) else Corpus.from_string(text_or_path)
        return self.evaluate_corpus(text, precision)

    def evaluate_corpus(self, text: Corpus, precision: str = "fp32") -> dict:
        """As `evaluate`, for a `Corpus` (a large file streams from disk)."""
        ids = encode_stream(self.tokenizer, text.pieces())
        if self.model.cfg.head.reverse:  # read as it was trained: last token first
            ids = ids[::-1].copy()
        return stream_metrics(self.model, ids, len(text), self.device, precision, World())

    def evaluate_source(self, sources, settings: LMEvaluation, progress=False, batch_size=None) -> dict:
        """`textrnn evaluate`: the loss, bits per character and perplexity of the sources,
        read one after another as one stream (so no batch size)."""
        return self.evaluate_corpus(open_corpus(list(sources), settings.text_column, settings.split))

    def step_graph(self) -> StepGraph:
        """The run's recurrent step for `textrnn export` (inference/onnx_graph.py's StepGraph)."""
        return StepGraph(self.model.cpu().eval())


def _is_path(x) -> bool:
    if isinstance(x, Path):
        return True
    if "\n" in x or len(x) > 1024:
        return False
    try:
        return Path(x).exists()
    except OSError:
        return False


def sample_command(lm: LanguageModel, settings: SampleSettings, write, progress: bool) -> None:
    """`textrnn sample`: one sample streamed as it grows (the prompt written with its first
    piece, so a refusal prints nothing), or each sample when done."""
    if settings.num_samples == 1 and settings.stream and not settings.json:
        started = []

        def show(piece):
            write(("" if started else settings.prompt) + piece)
            started.append(True)
        lm.sample(settings, on_token=show)
        write(("" if started else settings.prompt) + "\n")
        return
    for i, text in enumerate(lm.sample(settings)):
        if settings.json:
            write(json.dumps({"sample": i + 1, "text": text}, ensure_ascii=False) + "\n")
            continue
        if settings.num_samples > 1:
            write(f"----- sample {i + 1} -----\n")
        write(text + "\n")


async def generate_endpoint(server, name: str, lm: LanguageModel, body: GenerateRequest):
    """POST /v1/generate: whole, or with stream=true as server-sent events (`data: {"text":
    piece}` as the text grows, then `event: done` with the full result). Requests that
    arrive together are stepped as one batch; a seeded request gives the same text whatever
    else runs."""
    server.cap("the prompt's length in characters", len(body.prompt), "max_prompt_chars")
    for stop in body.stop:
        server.cap("a stop string's length in characters", len(stop), "max_stop_chars")
    sampling = SamplingConfig(max_new_tokens=body.max_tokens, temperature=body.temperature,
                              top_k=body.top_k, top_p=body.top_p, greedy=body.greedy, seed=body.seed,
                              stop=list(body.stop), prompt=body.prompt, weights=server.cfg.weights,
                              engine=server.cfg.engine, max_stop_chars=server.cfg.max_stop_chars).validate()
    prompt_ids = lm.encode_prompt(sampling.prompt)
    # Last: a request that leaves max_tokens out asks for the shared default, which a server
    # with a lower --max-tokens refuses; what is wrong with the request itself comes first.
    server.cap("max_tokens", body.max_tokens, "max_tokens")
    return await server.generate(name, lm, sampling, prompt_ids, body.stream)
