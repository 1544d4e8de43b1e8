"""`textrnn serve`'s settings: where it listens, how it samples, and every cap a request
meets. Each is a flag (`settings.add_flags`); the caps keep one request from taking the
machine."""
import os
from dataclasses import dataclass

from ..inference.engines import ENGINES
from ..inference.weights import FORMATS
from ..errors import ConfigError, setting_name
from ..settings import setting

API_KEY_VARIABLE = "TEXTRNN_API_KEY"


@dataclass
class ServeConfig:
    host: str = setting("127.0.0.1", "address to listen on; 0.0.0.0 lets other machines in")
    allowed_host: list = setting([], "another Host name a server on a loopback address answers, "
                                 "repeatable (e.g. host.docker.internal); it answers only "
                                 "localhost and loopback addresses otherwise", nargs="append",
                                 metavar="NAME")
    port: int = setting(8000, "port to listen on; 0 picks a free one", low=0, high=65535)
    device: str = setting("auto", "where the models run: auto (cuda, mps, then cpu), cpu, cuda, cuda:1 or mps")
    weights: str = setting("fp32", "weights of the runs that generate step by step (as "
                           "sampling's --weights)", choices=tuple(FORMATS))
    engine: str = setting("torch", "what runs their steps (as sampling's --engine)",
                          choices=tuple(ENGINES))
    max_streams: int = setting(64, "generation streams stepped together, per run; more requests "
                               "wait their turn", low=1, high=4096)
    max_waiting: int = setting(256, "requests waiting for a stream slot, per run, before the "
                               "server answers 503", low=0, high=100000)
    max_tokens: int = setting(1000, "most new tokens one request may ask for", low=1, high=10**6)
    max_prompt_chars: int = setting(4000, "longest prompt or text, in characters", low=1,
                                    high=10**7)
    max_stop_chars: int = setting(200, "longest stop string, in characters (at most 8 per "
                                  "request)", low=1, high=10**6)
    max_texts: int = setting(64, "most texts in one request", low=1, high=100000)
    max_explain_tokens: int = setting(400, "longest text whose token contributions are "
                                      "computed (one extra pass per token)", low=1, high=100000)
    max_beam: int = setting(16, "widest beam a request may ask for", low=1, high=1000)
    max_rows: int = setting(10000, "most rows of values in one request", low=1, high=10**7)
    max_body_kb: int = setting(1024, "largest request body, in KiB (an audio upload's is "
                               "--max-audio-kb)", low=1, high=10**6)
    max_audio_kb: int = setting(2048, "largest audio file one request may upload, in KiB (a "
                                "minute of 16-bit mono WAV at 16 kHz is 1,875)", low=1, high=10**7)
    max_audio_seconds: float = setting(60.0, "longest audio one request may upload, in seconds, "
                                       "read from the file's header before its samples", low=0,
                                       low_open=True, high=3600)
    max_n: int = setting(16, "most samples per prompt in one OpenAI-style completions request (n)",
                         low=1, high=4096)
    api_key: str | None = setting(None, "require `Authorization: Bearer KEY` on every endpoint under "
                                  "/v1 and on the API docs (the page asks for it once); default: "
                                  f"the {API_KEY_VARIABLE} environment variable, else none", metavar="KEY")
    cors_origin: list = setting([], "a web origin whose pages may call the API (e.g. "
                                "https://chat.example.org), repeatable", nargs="append", metavar="ORIGIN")

    def key(self) -> str | None:
        """The API key the server requires, if any (the flag, else the environment's); an
        empty one is refused, never taken as none (`--api-key "$KEY"` with KEY unset)."""
        key, where = ((self.api_key, setting_name("api_key")) if self.api_key is not None else
                      (os.environ.get(API_KEY_VARIABLE), API_KEY_VARIABLE))
        if key is not None and not key.strip():
            raise ConfigError(f"{where} is empty; give the key the server should require, or leave "
                              "it out for a server without one")
        return key
