"""Shallow fusion: a textrnn character language model scores each prefix a CTC beam search
extends (Hannun et al. 2014; Gulcehre et al. 2015 name it shallow fusion), so the toolkit's
own language models help its recogniser. The LM reads the transcript as text from a line's
start; its states are kept per prefix and stepped in one batch for the new prefixes of a
frame."""
import torch

from ..errors import ConfigError, setting_name
from ..nested import join, take
from ..tokenization import UNK_ID, encode
from .stepper import lm_stepper


class CharLMScorer:
    """log P(next character | prefix) over a recogniser's ids (0, CTC's blank, scores 0),
    from a character-level LanguageModel whose vocabulary holds every character of the
    recogniser's alphabet. `reset()` between clips."""

    def __init__(self, lm, alphabet: list[str], name: str = "--lm"):
        """`lm`: a loaded character language model that reads forwards (its caller checks
        what kind of run it is); `name` shows it in messages."""
        ids = [encode(lm.tokenizer, c) for c in alphabet]
        missing = [c for c, i in zip(alphabet, ids) if len(i) != 1 or i[0] == UNK_ID]
        if missing:
            raise ConfigError(f"{setting_name('lm')} {name} never saw {', '.join(repr(c) for c in missing[:5])} "
                              "of the recogniser's alphabet; train it on text with those characters")
        self.columns = torch.tensor([UNK_ID] + [i[0] for i in ids])  # recogniser id -> LM id
        self.stepper = lm_stepper(lm.model.eval())
        start = encode(lm.tokenizer, "\n")
        prompt = torch.tensor([start if start and UNK_ID not in start else [UNK_ID]])
        with torch.no_grad():
            logits, state = lm.model(prompt)  # (1, P, V)
        self.states = {(): (self.stepper.step_state(state, prompt), self._scores(logits[:, -1])[0])}

    def _scores(self, logits):
        """(B, V_lm) -> log P over the recogniser's ids (B, V), 0 for the blank."""
        out = torch.log_softmax(logits.float(), -1)[:, self.columns]
        out[:, 0] = 0.0
        return out.numpy().astype("float64")

    def reset(self) -> None:
        """Forget every prefix but the empty one (before the next clip)."""
        self.states = {(): self.states[()]}

    def next_log_probs(self, keys: list[tuple]) -> list:
        """For each prefix (a tuple of recogniser ids) the LM's log P(next id) (V,); the
        parent of each new prefix was scored before, so one step of all of them gives theirs."""
        new = [k for k in keys if k not in self.states]
        if new:
            state = None
            for k in new:
                state = join(state, self.states[k[:-1]][0])
            ids = self.columns[torch.tensor([k[-1] for k in new])]
            logits, state = self.stepper.step(ids, state)
            rows = self._scores(logits)
            for b, k in enumerate(new):
                self.states[k] = (take(state, torch.tensor([b])), rows[b])
        return [self.states[k][1] for k in keys]
