"""Many generation requests as one batch, one recurrent step at a time.

A stateful RNN carries everything it has read in a few (B, H) tensors, so the next token of
many streams is one batched step, however long each stream already is. Each round the
batcher takes in waiting requests (each prompt runs once, as a sequence), chooses every
stream's next token with that stream's own settings and random generator, lets go of the
streams that ended or were cancelled, and advances the rest with one `Stepper.step`.
Requests join and leave between steps.

A request's text is the text the run's `generate` gives for it alone with the same seed:
its generator is its own, and the draw reads only its row. The batched product rounds a row
differently from the product of that row alone (measured: up to 6e-7 on a score in fp32), so
two texts could part only where two tokens' chances tie that closely.
"""
import logging
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field

import torch

from ..errors import TextRNNError, first_line
from ..inference.engines import cached_stepper
from ..inference.sampling import SamplingConfig, allowed, is_greedy, prefill, probabilities
from ..inference.stops import Growing, TextStream, cut_at_stop
from ..nested import join, take

log = logging.getLogger(__name__)


class Busy(Exception):
    """Every stream slot is taken and the waiting line is full."""


@dataclass(eq=False)
class Job:
    """One generation request: its settings, its generator, its text so far."""
    cfg: SamplingConfig
    prompt_ids: list
    listener: object = None  # whatever the server uses to reach the client
    streamed: bool = True  # its text is sent as it grows (else only its result)
    seed: int = 0
    generator: torch.Generator = None  # on the model's device, made when the job starts
    tokens: int = 0
    cancelled: bool = False
    result: dict | None = None  # set when the job ends
    text: Growing = None  # the sample so far
    fresh: list = field(default_factory=list)  # text settled since the last round
    logprobs: int | None = None  # with a number: each token's log-probability and that many alternatives
    scores: list = field(default_factory=list)  # token_entry of each token taken, with logprobs

    def __post_init__(self):
        self.seed = self.cfg.seed if self.cfg.seed is not None else secrets.randbits(32)
        self.text = Growing(self.cfg.stop)
        self.stream = TextStream(self.fresh.append, self.cfg.stop) if self.streamed else None

    @property
    def key(self) -> tuple:
        """Jobs with equal keys turn scores into probabilities the same way."""
        c = self.cfg
        return (True,) if is_greedy(c) else (False, c.temperature, c.top_k, c.top_p)

    def start(self, device: torch.device) -> None:
        """Its generator, where the scores it draws for are (as `sample` makes its own): a
        CPU generator cannot draw noise for a CUDA tensor."""
        self.generator = torch.Generator(device=device).manual_seed(self.seed)

    def take(self, token: int, pieces: list[str]) -> None:
        self.tokens += 1
        stopped = self.text.add(pieces[token])
        ended = stopped or self.tokens >= self.cfg.max_new_tokens
        if self.stream is not None:
            self.stream.update(self.text, ended)
        if ended:
            self.end("stop" if stopped else "length")

    def end(self, reason: str, error: str | None = None) -> None:
        text = cut_at_stop(self.text.text(), self.cfg.stop)
        self.result = {"text": text, "finish_reason": reason, "tokens": self.tokens, "seed": self.seed}
        if self.logprobs is not None:  # the tokens the text kept (a stop string cuts the rest)
            kept, at = [], 0
            for entry in self.scores:
                if at >= len(text):
                    break
                kept.append(entry)
                at += len(entry[0])
            self.result["logprobs"] = kept
        if error:
            self.result["error"] = error

    def news(self) -> tuple[str, dict | None]:
        """Text settled since the last call, and the result if the job has ended."""
        piece = "".join(self.fresh)
        self.fresh.clear()
        return piece, self.result


class StepBatcher:
    """Runs the generation requests for one run, in a thread of its own.

    `publish(events)` is called from that thread once a round with a list of
    (job, new text, result or None) for the jobs with news; it must return quickly."""

    def __init__(self, lm, publish, weights: str = "fp32", max_streams: int = 64,
                 max_waiting: int = 256, engine: str = "torch"):
        self.model, self.pieces = lm.model.eval(), lm.pieces()
        self.device = next(self.model.parameters()).device
        self.stepper = cached_stepper(self.model, weights, engine)
        self.publish, self.max_streams, self.max_waiting = publish, max_streams, max_waiting
        self.active: list[Job] = []
        self.logits = self.state = None  # (B, V), the stepper's batch-first state
        self.peak = 0  # the most streams ever stepped together
        self._waiting: deque[Job] = deque()
        self._wake = threading.Condition()
        self._closed = False
        self._thread = None

    # ---- called from the server's threads ----

    def submit(self, job: Job) -> None:
        with self._wake:
            if len(self._waiting) >= self.max_waiting + max(0, self.max_streams - len(self.active)):
                raise Busy(f"{len(self.active)} streams are running and {len(self._waiting)} "
                           "waiting, the most this server takes; try again shortly")
            self._waiting.append(job)
            self._wake.notify()

    def cancel(self, job: Job) -> None:
        """Free the job's slot at the next round (a client went away)."""
        job.cancelled = True

    def counts(self) -> dict:
        return {"active": len(self.active), "waiting": len(self._waiting), "peak": self.peak}

    def start(self) -> "StepBatcher":
        self._thread = threading.Thread(target=self._loop, name="textrnn-batcher", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ---- the batcher's own thread ----

    def _loop(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._closed or self._waiting or self.active)
                if self._closed:
                    return
            try:
                self.step()
            except Exception as e:  # a broken round ends its streams, not the server
                log.exception("a generation step failed")
                self._fail_all(f"generation failed: {first_line(e)}")

    @torch.no_grad()
    def step(self) -> None:
        """One round: admit, choose, publish, let go, advance."""
        events = []
        self._keep([not j.cancelled for j in self.active], events)
        self._admit(events)
        if self.active:
            self.peak = max(self.peak, len(self.active))
            nxt = self._choose()  # (B,)
            self._score(nxt)
            for job, token in zip(self.active, nxt.tolist()):
                job.take(token, self.pieces)
            for job in self.active:
                piece, result = job.news()
                if piece or result is not None:  # nothing new for a job: no event for it
                    events.append((job, piece, result))
            live = [j.result is None for j in self.active]
            self._keep(live, [])
            nxt = nxt[torch.tensor(live)]
        if events:  # before advancing: streams that ended this round have their results
            self.publish(events)
        if self.active:
            self._advance(nxt)

    def _admit(self, events) -> None:
        """Take in waiting jobs while there is room; prompts of one length run as one batch."""
        with self._wake:
            room = self.max_streams - len(self.active)
            joining = [self._waiting.popleft() for _ in range(min(room, len(self._waiting)))]
        by_length: dict[int, list[Job]] = {}
        for job in joining:
            if not job.cancelled:
                job.start(self.device)
                by_length.setdefault(len(job.prompt_ids), []).append(job)
        for jobs in by_length.values():
            try:
                logits, state = prefill(self.model, self.stepper, [j.prompt_ids for j in jobs])
            except Exception as e:  # these jobs end with the reason; the others go on
                if not isinstance(e, TextRNNError):
                    log.exception("a prompt failed")
                for job in jobs:
                    job.end("error", str(e) if isinstance(e, TextRNNError)
                            else f"generation failed: {first_line(e)}")
                    events.append((job, "", job.result))
                continue
            self.active += jobs
            self.logits, self.state = join(self.logits, logits), join(self.state, state)

    def _choose(self):
        """Every stream's next token (B,), each with its own settings and generator."""
        logits = allowed(self.logits)  # (B, V)
        out = torch.empty(len(self.active), dtype=torch.long, device=logits.device)
        groups: dict[tuple, list[int]] = {}
        for i, job in enumerate(self.active):
            groups.setdefault(job.key, []).append(i)
        for idx in groups.values():
            rows = logits[idx]  # (G, V)
            if is_greedy(self.active[idx[0]].cfg):
                out[idx] = rows.argmax(-1)
                continue
            probs = probabilities(rows, self.active[idx[0]].cfg)
            # Each row's own exponential race (sampling.draw), from its own generator.
            q = torch.cat([torch.empty_like(probs[:1]).exponential_(generator=self.active[i].generator)
                           for i in idx])  # (G, V)
            out[idx] = (probs / q).argmax(-1)
        return out

    def _score(self, nxt) -> None:
        """For the jobs that asked for logprobs: the chosen token's log-probability under the
        model's own distribution, and the likeliest alternatives."""
        wanting = [i for i, job in enumerate(self.active) if job.logprobs is not None]
        if not wanting:
            return
        lp = torch.log_softmax(self.logits[wanting].float(), -1)  # (W, V): the model's own shares
        for row, i in zip(lp, wanting):
            job = self.active[i]
            job.scores.append(token_entry(row, int(nxt[i]), self.pieces, job.logprobs))

    def _advance(self, nxt) -> None:
        """nxt (B,): the token each live stream just took."""
        self.logits, self.state = self.stepper.step(nxt, self.state)

    def _keep(self, keep: list[bool], events) -> None:
        """Keep the streams marked True; a cancelled one let go gets its result."""
        if all(keep):
            return
        for job, k in zip(self.active, keep):
            if not k and job.result is None:
                job.end("cancelled")
                events.append((job, "", job.result))
        self.active = [j for j, k in zip(self.active, keep) if k]
        if self.active:
            rows = torch.tensor(keep, device=self.logits.device).nonzero().squeeze(1)
            self.logits, self.state = take((self.logits, self.state), rows)
        else:
            self.logits = self.state = None

    def _fail_all(self, message: str) -> None:
        events = []
        for job in self.active:
            job.end("error", message)
            events.append((job, "", job.result))
        self.active = []
        self.logits = self.state = None
        self.publish(events)


def token_entry(lp, token: int, pieces: list[str], top: int) -> tuple:
    """(piece, log-probability of `token`, {piece: log-probability} of the `top` likeliest)
    from one row of log-probabilities (V,)."""
    best = torch.topk(lp, top) if top else None
    alternatives = {} if best is None else {pieces[j]: round(v, 6) for v, j in
                                            zip(best.values.tolist(), best.indices.tolist())}
    return pieces[token], round(lp[token].item(), 6), alternatives
