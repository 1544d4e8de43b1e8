"""The JSON API under /v1: each task's endpoint (its request model from schemas.py, its
handler from the task), plus the list of models and their load. Handlers reach the server
through `Server`: its settings, its caps, and the step batchers of generating runs."""
import asyncio
import contextvars
import inspect
import json

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from ..settings import check
from ..tasks import TASKS
from .batcher import Job
from .runs import ApiError, Runs
from .schemas import inputs, request_model


# The HTTP request a handler serves (set by its route): a non-streamed generation watches it
# to learn that its client went away.
_client = contextvars.ContextVar("client", default=None)
POLL_SECONDS = 0.1  # how often a waiting non-streamed generation checks its client


def deliver(events) -> None:
    """Run on the event loop: each job's news to the queue its request waits on."""
    for job, piece, result in events:
        if job.listener is not None:
            job.listener.put_nowait((piece, result))


class Server:
    """What an endpoint's handler may ask of the server (tasks/base.py's Endpoint)."""

    def __init__(self, runs: Runs, cfg):
        self.runs, self.cfg = runs, cfg

    def cap(self, what: str, n: int, setting: str) -> None:
        """A 413 when `n` is over the server's ServeConfig `setting` (a cap on requests)."""
        most = getattr(self.cfg, setting)
        if n > most:
            raise ApiError(413, f"{what} is {n}; this server takes at most {most} (its "
                           f"--{setting.replace('_', '-')})")

    def cap_texts(self, texts: list[str]) -> None:
        self.cap("the number of texts", len(texts), "max_texts")
        for text in texts:
            self.cap("a text's length in characters", len(text), "max_prompt_chars")

    async def generate(self, name: str, run, sampling, prompt_ids: list[int], stream: bool):
        """Run `sampling` on the run's step batcher: the result, or with `stream` server-sent
        events, `data: {"text": piece}` as the text grows, then `event: done` with the result."""
        job = Job(sampling, prompt_ids, listener=asyncio.Queue(), streamed=stream)
        batcher = self.runs.batchers[name]
        batcher.submit(job)
        if stream:
            return StreamingResponse(_events(job, batcher, name), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})
        try:
            result = await _result(job, _client.get())
        finally:
            if job.result is None:  # the request was cancelled while waiting
                batcher.cancel(job)
        if "error" in result:
            raise ApiError(500, result["error"])
        return {"model": name, "prompt": sampling.prompt, **result}


def router(server: Server) -> APIRouter:
    api = APIRouter(prefix="/v1")
    runs = server.runs

    @api.get("/models", summary="the run folders this server holds, with their configs")
    def models():
        """textrnn's own description of each run (`models`, which the page reads) and the
        OpenAI list shape (`object`, `data`), which OpenAI clients read."""
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "textrnn"} for name in runs.runs]
        return {"object": "list", "data": data, "models": runs.describe(inputs)}

    @api.get("/health", summary="generation streams running and waiting, per generating run")
    def health():
        return {"status": "ok", "streams": {n: b.counts() for n, b in runs.batchers.items()}}

    for task in TASKS.values():
        if task.endpoint is not None:
            add_route(api, task, server)
    return api


def add_route(api: APIRouter, task, server: Server) -> None:
    """POST /v1/<path> for `task`: the body checked by its request model and its fields'
    ranges, then its handler (a blocking one in a worker thread, so the event loop keeps
    serving)."""
    ep, Body = task.endpoint, request_model(task)
    fields = [f for f in Body.model_fields if f != "model"]

    async def route(body: Body, http: Request):  # type: ignore[valid-type]
        _client.set(http)
        name, run = server.runs.pick(body.model, task)
        # The request's own ranges (as the command line checks its flags), so a bad value is
        # named by its JSON field before the handler turns the request into its settings.
        request = check(ep.request(**{f: getattr(body, f) for f in fields}))
        if inspect.iscoroutinefunction(ep.handle):
            return await ep.handle(server, name, run, request)
        return await run_in_threadpool(ep.handle, server, name, run, request)

    # A dependency runs before the body is checked: with no run of the task held, the answer
    # is what to serve, not what the body lacks.
    api.post(f"/{ep.path}", summary=ep.summary, description=inspect.getdoc(ep.handle) or "",
             name=f"{task.name}_{ep.path}",
             dependencies=[Depends(lambda: server.runs.require(task))])(route)


async def _result(job: Job, client: Request | None) -> dict:
    """The job's result (a job that is not streamed hears of nothing else); while it waits,
    the client is asked every POLL_SECONDS whether it is still there (the caller frees the
    slot of one that went away)."""
    while True:
        try:
            _, result = await asyncio.wait_for(job.listener.get(), POLL_SECONDS)
        except asyncio.TimeoutError:
            if client is not None and await client.is_disconnected():
                raise ApiError(499, "the client went away before the result") from None
            continue
        if result is not None:
            return result


async def _events(job: Job, batcher, name: str):
    """Server-sent events: each new piece of text, then the result. A client that goes
    away closes this generator, which frees the stream's slot."""
    try:
        while True:
            piece, result = await job.listener.get()
            if piece:
                yield f"data: {json.dumps({'text': piece})}\n\n"
            if result is not None:
                kind = "error" if "error" in result else "done"
                yield f"event: {kind}\ndata: {json.dumps({'model': name, **result})}\n\n"
                return
    finally:
        if job.result is None:
            batcher.cancel(job)
