"""Reading a CTC model's output (Graves et al. 2006): per frame, a distribution over the
alphabet and a blank; a transcript is a path through the frames with repeats merged and
blanks removed.

- `greedy`: the likeliest symbol of each frame, collapsed.
- `align`: where each character of a transcript sits in the frames (a forced alignment),
  which gives word timestamps.
- `prefix_beam_search` (Hannun et al. 2014, "First-pass large vocabulary continuous speech
  recognition using bi-directional recurrent DNNs"): keeps the `beam` likeliest prefixes,
  each with the probability of all its paths that end in a blank and of those that end in
  its last character; with shallow fusion a character language model adds
  `lm_weight x log P(character | prefix)` and each word `word_bonus`.

Probabilities are handled as natural logs, in float64 numpy: a beam step is small work.
"""
import math

import numpy as np

from ..data.speech_encoding import BLANK

NEG_INF = -math.inf


def greedy(log_probs: np.ndarray) -> tuple[list[int], list[int]]:
    """log_probs (T, V) -> (ids, the frame each starts at)."""
    best = log_probs.argmax(axis=1)
    ids, starts, previous = [], [], BLANK
    for t, s in enumerate(best.tolist()):
        if s != BLANK and s != previous:
            ids.append(s)
            starts.append(t)
        previous = s
    return ids, starts


def _add(a: float, b: float) -> float:
    """log(exp(a) + exp(b))."""
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    m = max(a, b)
    return m + math.log1p(math.exp(-abs(a - b)))


def prefix_beam_search(log_probs: np.ndarray, beam: int, lm=None, lm_weight: float = 0.0,
                       word_bonus: float = 0.0, space: int | None = None,
                       prune: float = -12.0) -> list[int]:
    """The likeliest transcript's ids by prefix beam search over log_probs (T, V).

    `lm`: a scorer whose `next_log_probs(prefixes)` gives, for each prefix (a tuple of ids),
    log P(next id | prefix) as a (V,) array (lm_fusion.CharLMScorer).
    `space`: the id of the word separator, after which `word_bonus` is added (and once for
    the first word). Symbols of a frame below `prune` (log probability) are not tried."""
    fused = lm is not None and lm_weight != 0.0
    # prefix -> [log P(paths ending in blank), log P(paths ending in its last id)]
    beams = {(): [0.0, NEG_INF]}
    extra = {(): 0.0}  # the LM and word-bonus score of each prefix, added once per prefix
    cache = {}  # prefix -> its LM's log P(next id) (V,)
    for t in range(log_probs.shape[0]):
        frame = log_probs[t]
        symbols = [s for s in np.flatnonzero(frame >= prune).tolist() if s != BLANK]
        if fused:
            missing = [p for p in beams if p not in cache]
            if missing:
                for p, row in zip(missing, lm.next_log_probs(missing)):
                    cache[p] = row
        nxt = {}

        def slot(prefix):
            if prefix not in nxt:
                nxt[prefix] = [NEG_INF, NEG_INF]
            return nxt[prefix]

        for prefix, (pb, pnb) in beams.items():
            total = _add(pb, pnb)
            here = slot(prefix)
            here[0] = _add(here[0], total + frame[BLANK])  # a blank: the prefix stays
            if prefix:  # its last id again, merged: the prefix stays
                here[1] = _add(here[1], pnb + frame[prefix[-1]])
            for s in symbols:
                longer = prefix + (s,)
                # after a blank the same id starts a new character; straight after it, a repeat
                p = pb if prefix and s == prefix[-1] else total
                cell = slot(longer)
                cell[1] = _add(cell[1], p + frame[s])
                if longer not in extra:
                    bonus = 0.0
                    if fused:
                        bonus += lm_weight * float(cache[prefix][s])
                    if word_bonus and s != space and (not prefix or prefix[-1] == space):
                        bonus += word_bonus  # a word begins
                    extra[longer] = extra[prefix] + bonus
        beams = dict(sorted(nxt.items(), key=lambda kv: _add(*kv[1]) + extra[kv[0]],
                            reverse=True)[:beam])
    best = max(beams.items(), key=lambda kv: _add(*kv[1]) + extra[kv[0]])
    return list(best[0])


def align(log_probs: np.ndarray, ids: list[int]) -> list[tuple[int, int]]:
    """CTC forced alignment: the likeliest path of log_probs (T, V) that reads exactly `ids`
    (Viterbi over the ids with blanks between and around them), as each id's first and last
    frame. Empty for no ids or a transcript the frames cannot hold."""
    L, T = len(ids), log_probs.shape[0]
    if not L:
        return []
    labels = [BLANK] + [x for i in ids for x in (i, BLANK)]  # (S,) S = 2L + 1
    S = len(labels)
    score = np.full((T, S), NEG_INF)
    back = np.zeros((T, S), dtype=np.int64)
    score[0, 0], score[0, 1] = log_probs[0, BLANK], log_probs[0, labels[1]]
    for t in range(1, T):
        for s in range(S):
            options = [(score[t - 1, s], s)]
            if s > 0:
                options.append((score[t - 1, s - 1], s - 1))
            if s > 1 and labels[s] != BLANK and labels[s] != labels[s - 2]:
                options.append((score[t - 1, s - 2], s - 2))  # skip a blank between different ids
            best, came = max(options)
            score[t, s], back[t, s] = best + log_probs[t, labels[s]], came
    end = S - 1 if score[T - 1, S - 1] >= score[T - 1, S - 2] else S - 2
    if score[T - 1, end] == NEG_INF:
        return []
    states = [end]
    for t in range(T - 1, 0, -1):
        states.append(int(back[t, states[-1]]))
    states.reverse()  # the state of each frame
    spans = {}
    for t, s in enumerate(states):
        if s % 2:  # an id's state (odd: the blanks sit at even states)
            first, _ = spans.get(s // 2, (t, t))
            spans[s // 2] = (first, t)
    return [spans[k] for k in range(L)]


def word_times(ids: list[int], spans: list[tuple[int, int]], space: int | None,
               seconds_per_frame: float, decode, duration: float = float("inf")) -> list[dict]:
    """Words with the times they start and end, from the frames of their characters; no
    end past `duration`, the clip's seconds (its last frame may reach past them)."""
    words, current, begin, last = [], [], None, None
    for i, span in zip(ids + [space], spans + [None]):
        if i == space or span is None:
            if current:
                words.append({"word": decode(current), "start": round(begin * seconds_per_frame, 3),
                              "end": round(min((last + 1) * seconds_per_frame, duration), 3)})
            current, begin = [], None
            continue
        current.append(i)
        begin = span[0] if begin is None else begin
        last = span[1]
    return words
