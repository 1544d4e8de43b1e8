"""The OpenAI completions protocol beside textrnn's own API, for the clients people already
have (the `openai` libraries, chat front ends, evaluation harnesses): POST /v1/completions
and /v1/chat/completions, answered in OpenAI's response and streaming-chunk shapes, with
usage counted in the model's tokens. Every request runs on the same step batcher as
/v1/generate, so they batch with each other and with it.

Rules a client can rely on:
- `n` samples of a prompt with a `seed`: sample i uses seed + i (as `generate`'s
  `num_samples` does), so sample i is the text /v1/generate or `textrnn sample` gives alone
  for seed + i. A list of prompts gives choices prompt by prompt, `n` each (index p * n + i).
- `temperature` 0 is greedy; `top_p` as sampling's; `stop` (a string or a list) cuts the text
  before the first stop string.
- `logprobs` (0-5): each generated token's log-probability under the model's own
  distribution (before temperature and top-p) and the `logprobs` likeliest alternatives; with
  `echo` the prompt's tokens are scored too (the first has none), so `max_tokens` 0 with
  `echo` and `logprobs` scores a text, as evaluation harnesses ask. Streamed chunks carry no
  logprobs.
- Chat: the messages become a plain-text prompt, one line per message, `role: content`, then
  `assistant:`; the reply stops where the model starts a line for another role ("\\nuser:",
  "\\nsystem:"), besides any `stop` given.
"""
import asyncio
import json
import secrets
import time

import torch
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ..inference.sampling import SamplingConfig, sample_seed
from ..tokenization import as_text
from .api import POLL_SECONDS
from .batcher import Job, token_entry
from .runs import ApiError

CHAT_STOPS = ["\nuser:", "\nsystem:"]  # where a chat reply ends: the model opening another turn
MAX_LOGPROBS = 5  # as OpenAI's completions API


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_usage: bool = False


class Sampling(BaseModel):
    """What both requests share; unknown keys are refused, as in textrnn's own API."""
    model_config = ConfigDict(extra="forbid")
    model: str | None = Field(None, description="a served run's name (GET /v1/models); may be left "
                              "out when one language model is served")
    max_tokens: int = Field(16, ge=0, description="new tokens at most (0 only with echo)")
    temperature: float = Field(1.0, ge=0, le=2, description="0 is greedy")
    top_p: float = Field(1.0, gt=0, le=1)
    n: int = Field(1, ge=1, description="samples per prompt; with a seed, sample i uses seed + i")
    stop: str | list[str] | None = Field(None, description="up to 8 stop strings")
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(None, description="accepted and ignored")
    frequency_penalty: float = Field(0.0, ge=0, le=0, description="only 0: not supported")
    presence_penalty: float = Field(0.0, ge=0, le=0, description="only 0: not supported")


class CompletionRequest(Sampling):
    prompt: str | list[str] = Field(..., description="a text, or a list of texts")
    logprobs: int | None = Field(None, ge=0, le=MAX_LOGPROBS)
    echo: bool = Field(False, description="the prompt before its completion")


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")  # chat clients send name, tool fields, ...
    role: str
    content: str


class ChatRequest(Sampling):
    messages: list[Message] = Field(..., min_length=1)


def chat_prompt(messages: list[Message]) -> str:
    """The messages as plain text, one `role: content` line each, then the reply's cue."""
    return "".join(f"{m.role}: {m.content}\n" for m in messages) + "assistant:"


def router(server) -> APIRouter:
    api = APIRouter(prefix="/v1")

    @api.post("/completions", summary="OpenAI-compatible text completions of a language model")
    async def completions(body: CompletionRequest, http: Request):
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        return await complete(server, body, prompts, chat=False, client=http)

    @api.post("/chat/completions", summary="OpenAI-compatible chat completions, over a plain-text "
              "rendering of the messages (role: content lines)")
    async def chat(body: ChatRequest, http: Request):
        return await complete(server, body, [chat_prompt(body.messages)], chat=True, client=http)

    return api


def pick(server, name: str | None) -> tuple:
    """(name, run) of the generating run a request names (or the only one)."""
    stepped = dict(server.runs.stepped())
    if name is None:
        if len(stepped) != 1:
            raise ApiError(404 if not stepped else 422,
                           "no language model is served" if not stepped else
                           f"name the model: this server holds {', '.join(stepped)}")
        name = next(iter(stepped))
    if name not in stepped:
        raise ApiError(404, f"no language model {name!r}; this server holds "
                       f"{', '.join(stepped) or 'none'} (GET /v1/models)")
    return name, stepped[name]


def stops_of(body) -> list[str]:
    """The request's stop strings: one string, a list, or none."""
    return [body.stop] if isinstance(body.stop, str) else list(body.stop or [])


def settings(server, body, prompt: str, chat: bool, i: int) -> SamplingConfig:
    stops = stops_of(body)
    seed = None if body.seed is None else sample_seed(body.seed, i)
    longest = max(map(len, CHAT_STOPS)) if chat else 0  # the chat stops are the server's own
    return SamplingConfig(max_new_tokens=max(body.max_tokens, 1), temperature=body.temperature,
                          top_p=body.top_p, seed=seed, stop=stops + (CHAT_STOPS if chat else []),
                          prompt=prompt, weights=server.cfg.weights, engine=server.cfg.engine,
                          max_stop_chars=max(server.cfg.max_stop_chars, longest)).validate()


def check_request(server, body, prompts: list[str], chat: bool) -> None:
    if not prompts:
        raise ApiError(422, "prompt is an empty list; send a text, or a list of at least one")
    server.cap_texts(prompts)
    server.cap("n", body.n, "max_n")
    server.cap("max_tokens", body.max_tokens, "max_tokens")
    logprobs = getattr(body, "logprobs", None)
    if body.max_tokens == 0 and not (getattr(body, "echo", False) and logprobs is not None):
        raise ApiError(422, "max_tokens is 0: ask for at least 1, or send echo and logprobs to score "
                       "the prompt alone")
    if body.stream and logprobs is not None:
        raise ApiError(422, "logprobs come with non-streamed completions; leave out stream or logprobs")
    stops = stops_of(body)
    most = 8 - (len(CHAT_STOPS) if chat else 0)  # a chat's own stops count among the 8
    if len(stops) > most or any(len(s) > server.cfg.max_stop_chars or not s for s in stops):
        raise ApiError(422, f"stop takes up to {most} non-empty strings of at most "
                       f"{server.cfg.max_stop_chars} characters (this server's --max-stop-chars)")


async def complete(server, body, prompts: list[str], chat: bool, client: Request | None = None):
    name, lm = pick(server, body.model)
    check_request(server, body, prompts, chat)
    encoded = [lm.encode_prompt(p) for p in prompts]
    echo, logprobs = getattr(body, "echo", False), getattr(body, "logprobs", None)
    merged = asyncio.Queue()
    jobs = []
    if body.max_tokens > 0:
        for p, (prompt, ids) in enumerate(zip(prompts, encoded)):
            for i in range(body.n):
                job = Job(settings(server, body, prompt, chat, i), ids, listener=Tagged(merged, len(jobs)),
                          streamed=body.stream, logprobs=logprobs)
                jobs.append(job)
    batcher = server.runs.batchers[name]
    try:
        for job in jobs:
            batcher.submit(job)
    except BaseException:  # a full line (503) refuses the whole request: free what got in
        for job in jobs:
            batcher.cancel(job)
        raise
    head = {"id": ("chatcmpl-" if chat else "cmpl-") + secrets.token_hex(12), "created": int(time.time()),
            "model": name}
    usage_prompt = sum(len(ids) for ids in encoded)
    if body.stream:
        return StreamingResponse(stream(head, jobs, merged, batcher, prompts, body, chat, usage_prompt),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
    try:
        results = await gather(jobs, merged, client)
    finally:
        for job in jobs:
            if job.result is None:
                batcher.cancel(job)
    scored = (await run_in_threadpool(prompt_logprobs, lm, encoded, logprobs, prompts)
              if echo and logprobs is not None else None)
    choices = []
    for p, prompt in enumerate(prompts):
        for i in range(body.n):
            k = p * body.n + i
            result = results[k] if jobs else {"text": "", "finish_reason": "length", "tokens": 0}
            if "error" in result:
                raise ApiError(500, result["error"])
            text = (prompt if echo else "") + result["text"]
            choice = ({"index": k, "message": {"role": "assistant", "content": text.lstrip(" ")},
                       "finish_reason": result["finish_reason"]} if chat else
                      {"index": k, "text": text, "finish_reason": result["finish_reason"],
                       "logprobs": None if logprobs is None else
                       joined_logprobs(scored[p] if scored else None, result.get("logprobs"), prompt, echo)})
            choices.append(choice)
    completion = sum(r["tokens"] for r in results) if jobs else 0
    return {**head, "object": "chat.completion" if chat else "text_completion", "choices": choices,
            "usage": usage(usage_prompt, completion)}


def usage(prompt: int, completion: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class Tagged:
    """A job's listener that puts its news on a queue shared by the request's jobs, tagged
    with the job's place."""

    def __init__(self, queue: asyncio.Queue, index: int):
        self.queue, self.index = queue, index

    def put_nowait(self, news):
        self.queue.put_nowait((self.index, *news))


async def gather(jobs: list, merged: asyncio.Queue, client: Request | None) -> list[dict]:
    """Every job's result; while waiting, the client is asked every POLL_SECONDS whether it
    is still there (the caller frees the jobs of one that went away)."""
    results = [None] * len(jobs)
    while any(r is None for r in results):
        try:
            index, _, result = await asyncio.wait_for(merged.get(), POLL_SECONDS)
        except asyncio.TimeoutError:
            if client is not None and await client.is_disconnected():
                raise ApiError(499, "the client went away before the result") from None
            continue
        if result is not None:
            results[index] = result
    return results


async def stream(head, jobs, merged, batcher, prompts, body, chat: bool, usage_prompt: int):
    """OpenAI's server-sent events: a chunk per new piece of each choice, a chunk with its
    finish_reason when it ends, the usage if asked, then `data: [DONE]`."""
    kind = "chat.completion.chunk" if chat else "text_completion"

    def chunk(index: int, text: str | None, finish=None, first=False) -> str:
        if chat:
            delta = {"role": "assistant", "content": ""} if first else ({"content": text} if text else {})
            choice = {"index": index, "delta": delta, "finish_reason": finish}
        else:
            choice = {"index": index, "text": text or "", "logprobs": None, "finish_reason": finish}
        return f"data: {json.dumps({**head, 'object': kind, 'choices': [choice]})}\n\n"

    done, began, tokens = set(), set(), 0
    try:
        for k in range(len(jobs)):
            if chat:
                yield chunk(k, None, first=True)
            elif getattr(body, "echo", False):
                yield chunk(k, prompts[k // body.n])
        while len(done) < len(jobs):
            index, piece, result = await merged.get()
            if chat and index not in began:
                piece = piece.lstrip(" ")  # "assistant: Hi": the reply is "Hi"
            if piece:
                began.add(index)
                yield chunk(index, piece)
            if result is not None:
                done.add(index)
                tokens += result["tokens"]
                if "error" in result:
                    yield f"data: {json.dumps({'error': {'message': result['error'], 'type': 'server_error'}})}\n\n"
                else:
                    yield chunk(index, None, result["finish_reason"])
        if body.stream_options is not None and body.stream_options.include_usage:
            yield f"data: {json.dumps({**head, 'object': kind, 'choices': [], 'usage': usage(usage_prompt, tokens)})}\n\n"
        yield "data: [DONE]\n\n"
    finally:
        for job in jobs:
            if job.result is None:
                batcher.cancel(job)


@torch.no_grad()
def prompt_logprobs(lm, encoded: list[list[int]], top: int, prompts: list[str]) -> list[list[tuple]]:
    """Per prompt, per token: (its text in the prompt, its log-probability given the tokens
    before it, the `top` likeliest there, where it starts in the prompt), the first token
    with none: one pass of the model. A token's text is the prompt's own characters (an
    unknown character stays itself, not "<unk>"), placed by the tokenizer's offsets."""
    pieces, out = lm.pieces(), []
    for ids, prompt in zip(encoded, prompts):
        x = torch.tensor([ids], device=lm.device)  # (1, T)
        logits, _ = lm.model(x)
        lp = torch.log_softmax(logits[0].float(), -1)  # (T, V): every token's share, <unk> included
        spans = token_spans(lm.tokenizer, prompt, ids)
        texts = [prompt[a:b] for a, b in spans] if spans else [pieces[i] for i in ids]
        starts = [a for a, _ in spans] if spans else [None] * len(ids)
        rows = [(texts[0], None, None, starts[0])]
        for t in range(1, len(ids)):
            _, value, tops = token_entry(lp[t - 1], ids[t], pieces, top)
            rows.append((texts[t], value, tops, starts[t]))
        out.append(rows)
    return out


def token_spans(tokenizer, prompt: str, ids: list[int]) -> list[tuple[int, int]] | None:
    """(start, end) of each token of `ids` in `prompt`, by the tokenizer's offsets; None if
    `ids` are not the prompt's own tokens (an empty prompt starts at a line break)."""
    found = as_text(tokenizer).encode(prompt, add_special_tokens=False)
    return list(found.offsets) if found.ids == list(ids) else None


def joined_logprobs(prompt_rows, generated_rows, prompt: str, echo: bool) -> dict:
    """OpenAI's logprobs object: tokens, token_logprobs, top_logprobs and text_offset."""
    rows = [*(prompt_rows or []), *(generated_rows or [])]
    offsets, at = [], 0 if echo else len(prompt)  # offsets into prompt + completion
    for row in rows:
        at = row[3] if len(row) > 3 and row[3] is not None else at  # a prompt token's own place
        offsets.append(at)
        at += len(row[0])
    return {"tokens": [r[0] for r in rows], "token_logprobs": [r[1] for r in rows],
            "top_logprobs": [r[2] for r in rows], "text_offset": offsets}
