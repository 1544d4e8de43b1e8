"""The most-frequent-tag baseline, for scale beside a tagger: each word gets the tag it had
most often in training; an unseen word, the most frequent tag of the longest suffix (up to
SUFFIX characters) it shares with training words, else the most frequent tag overall. It
reads no context, so a word that is a name in one sentence and a plain word in another gets
one tag for both."""
from collections import Counter, defaultdict

SUFFIX = 4


class MostFrequentTag:
    def __init__(self, sentences, tags):
        words, suffixes, every = defaultdict(Counter), defaultdict(Counter), Counter()
        for s, ts in zip(sentences, tags):
            for w, t in zip(s, ts):
                words[w][t] += 1
                every[t] += 1
                for n in range(1, SUFFIX + 1):
                    suffixes[w[-n:]][t] += 1
        best = lambda counts: counts.most_common(1)[0][0]  # noqa: E731
        self.words = {w: best(c) for w, c in words.items()}
        self.suffixes = {s: best(c) for s, c in suffixes.items()}
        self.default = best(every)

    def tag_word(self, word: str) -> str:
        if word in self.words:
            return self.words[word]
        for n in range(min(SUFFIX, len(word)), 0, -1):
            if word[-n:] in self.suffixes:
                return self.suffixes[word[-n:]]
        return self.default

    def tag(self, sentences) -> list[list[str]]:
        return [[self.tag_word(w) for w in s] for s in sentences]
