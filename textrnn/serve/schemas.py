"""The JSON bodies the API takes. Unknown keys and wrong types are refused (422) before a
route runs; the ranges live in `SamplingConfig` and `ServeConfig`, checked by the routes."""
from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    model: str | None = Field(None, description="a name from GET /v1/models; may be left out "
                              "when only one run folder of the task is served")


class GenerateRequest(Body):
    prompt: str = Field("", description="text to continue")
    max_tokens: int = Field(200, description="new tokens at most")
    temperature: float = Field(1.0, description="0 is greedy")
    top_k: int = Field(0, description="sample among the k likeliest tokens; 0: off")
    top_p: float = Field(1.0, description="nucleus sampling; 1: off")
    greedy: bool = False
    seed: int | None = Field(None, description="same seed, same text; the response says the "
                             "seed it used")
    stop: list[str] = Field([], max_length=8, description="stop strings: the text is cut before one")
    stream: bool = Field(False, description="send the text as server-sent events, piece by piece")


class ClassifyRequest(Body):
    texts: list[str] = Field(min_length=1, description="texts to label")
    explain: bool = Field(False, description="also each token's contribution to the label")


class ForecastRequest(Body):
    rows: list[list[float]] = Field(min_length=1, description="the most recent rows, oldest "
                                    "first, one value per column in the model's column order "
                                    "(GET /v1/models); at least its lookback")


class TranslateRequest(Body):
    texts: list[str] = Field(min_length=1, description="texts to translate")
    beam: int = Field(5, description="beam size; 1: greedy")
    attention: bool = Field(False, description="also the attention map of the first text's "
                            "greedy translation")
