"""The JSON API under /v1: one route per task, plus the list of models and their load."""
import asyncio
import json

import numpy as np
from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from ..generation import SamplingConfig
from .batcher import Job
from .explain import contributions
from .runs import ApiError, Runs
from .schemas import ClassifyRequest, ForecastRequest, GenerateRequest, TranslateRequest


def deliver(events) -> None:
    """Run on the event loop: each job's news to the queue its request waits on."""
    for job, piece, result in events:
        if job.listener is not None:
            job.listener.put_nowait((piece, result))


def cap(what: str, n: int, most: int, flag: str) -> None:
    if n > most:
        raise ApiError(413, f"{what} is {n}; this server takes at most {most} (its --{flag})")


def sampling_config(body: GenerateRequest, cfg) -> SamplingConfig:
    cap("the prompt's length in characters", len(body.prompt), cfg.max_prompt_chars, "max-prompt-chars")
    cap("max_tokens", body.max_tokens, cfg.max_tokens, "max-tokens")
    return SamplingConfig(max_new_tokens=body.max_tokens, temperature=body.temperature,
                          top_k=body.top_k, top_p=body.top_p, greedy=body.greedy, seed=body.seed,
                          stop=list(body.stop), prompt=body.prompt, weights=cfg.weights,
                          engine=cfg.engine).validate()


def router(runs: Runs, cfg) -> APIRouter:
    api = APIRouter(prefix="/v1")

    @api.get("/models", summary="the run folders this server holds, with their configs")
    def models():
        return {"models": runs.describe()}

    @api.get("/health", summary="generation streams running and waiting, per language model")
    def health():
        return {"status": "ok", "streams": {n: b.counts() for n, b in runs.batchers.items()}}

    @api.post("/generate", summary="continue a prompt with a language model",
              description="Whole, or with stream=true as server-sent events: `data: {\"text\": "
              "piece}` as the text grows, then `event: done` with the full result. Requests "
              "that arrive together are stepped as one batch; a seeded request gives the same "
              "text whatever else runs.")
    async def generate(body: GenerateRequest):
        name, lm = runs.pick(body.model, "lm")
        sampling = sampling_config(body, cfg)
        job = Job(sampling, lm.encode_prompt(sampling.prompt), listener=asyncio.Queue())
        batcher = runs.batchers[name]
        batcher.submit(job)
        if body.stream:
            return StreamingResponse(_events(job, batcher, name), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})
        try:
            result = await _result(job)
        finally:
            if job.result is None:  # the request was cancelled while waiting
                batcher.cancel(job)
        if "error" in result:
            raise ApiError(500, result["error"])
        return {"model": name, "prompt": sampling.prompt, **result}

    @api.post("/classify", summary="label texts with a classifier, optionally with each "
              "token's contribution (occlusion)")
    def classify(body: ClassifyRequest):
        name, clf = runs.pick(body.model, "classifier")
        return {"model": name, "results": labelled(clf, body, cfg)}

    @api.post("/forecast", summary="the next horizon rows of a forecaster's targets")
    def forecast(body: ForecastRequest):
        name, fc = runs.pick(body.model, "forecaster")
        cap("the number of rows", len(body.rows), cfg.max_rows, "max-rows")
        values = _rows(body.rows, list(fc.scaler.columns))
        pred = fc.forecast(values)  # (horizon, targets), in the data's units
        k = len(fc.targets)
        return {"model": name, "targets": fc.targets, "history": values[-fc.lookback:, :k].tolist(),
                "forecast": pred.tolist()}

    @api.post("/translate", summary="translate texts with a translator, optionally with the "
              "attention map of the first text's greedy translation")
    def translate(body: TranslateRequest):
        name, tr = runs.pick(body.model, "translator")
        return {"model": name, **translated(tr, body, cfg)}

    return api


def labelled(clf, body: ClassifyRequest, cfg) -> list[dict]:
    """Each text's label and probabilities, and with `explain` its token contributions."""
    cap_texts(body.texts, cfg)
    proba = clf.predict_proba(body.texts)  # (n, classes)
    results = [{"label": clf.labels[int(p.argmax())],
                "probabilities": dict(zip(clf.labels, map(float, p)))} for p in proba]
    if body.explain:
        for text, r in zip(body.texts, results):
            r["explanation"] = contributions(clf, text, cfg.max_explain_tokens)
    return results


def translated(tr, body: TranslateRequest, cfg) -> dict:
    """The translations, and with `attention` the first text's map: weights (T, S)."""
    cap_texts(body.texts, cfg)
    cap("the beam", body.beam, cfg.max_beam, "max-beam")
    result = {"translations": tr.translate(body.texts, beam=body.beam)}
    if body.attention:
        source, target, weights = tr.attention(body.texts[0])
        result["attention"] = {"source": source, "target": target, "weights": weights.tolist()}
    return result


def cap_texts(texts: list[str], cfg) -> None:
    cap("the number of texts", len(texts), cfg.max_texts, "max-texts")
    for text in texts:
        cap("a text's length in characters", len(text), cfg.max_prompt_chars, "max-prompt-chars")


async def _result(job: Job) -> dict:
    while True:
        _, result = await job.listener.get()
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


def _rows(rows: list[list[float]], columns: list[str]) -> np.ndarray:
    """(rows, columns) values, every row complete and finite."""
    for i, row in enumerate(rows):
        if len(row) != len(columns):
            raise ApiError(422, f"row {i + 1} has {len(row)} values; each row needs {len(columns)}, "
                           f"one per column: {', '.join(columns)}")
    values = np.asarray(rows, dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise ApiError(422, f"{int(bad.sum())} values are NaN or infinite (the first in row "
                       f"{int(np.argwhere(bad)[0][0]) + 1}); fill them before asking")
    return values
