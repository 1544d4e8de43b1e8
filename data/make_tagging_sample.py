"""Writes tagging_sample.conll and tagging_sample_test.conll: generated news-like sentences
with named entities (PER, LOC, ORG) in CoNLL columns (word, IOB2 tag), for
recipes/tagging.py.

The sample is made so that a word's tag depends on its context, not on the word: most names
here are people, places and companies at once (Jordan, Paris, Georgia, Austin; Ford,
Lincoln, Washington), many are also everyday words (May, Bill, Rose, Apple, Shell, Target),
and a sentence's first word is capitalised whatever it is. A tagger that looks each word up
in a table (the most frequent tag it had in training) fails on it; one that reads the words
around it does not. Test sentences come from the same templates with other draws, and a
share of their names never occurs in training.

Run: python data/make_tagging_sample.py   (fixed seed; rewrites both files)
"""
import random
from pathlib import Path

SEED, TRAIN, TEST = 2026, 3000, 500
HERE = Path(__file__).resolve().parent

# Names that are a person's first name and a place (and some also a word).
BOTH = ["Jordan", "Paris", "Georgia", "Virginia", "Austin", "Sydney", "Florence", "Victoria",
        "Chelsea", "Dallas", "Orlando", "Charlotte", "Madison", "Phoenix", "Savannah", "Eugene"]
FIRST = BOTH + ["Angela", "Tomas", "Ngozi", "Priya", "Mateo", "Ingrid", "Kenji", "Amara",
                "May", "Bill", "Rose", "Mark", "Grant", "Hope", "Will", "Frank", "Summer", "Joy"]
SURNAMES = ["Merkel", "Okafor", "Lindqvist", "Nakamura", "Garcia", "Kowalski", "Chen", "Adeyemi",
            "Ford", "Lincoln", "Washington", "Jordan", "Wells", "Morgan", "Dell", "Young", "Price"]
PLACES = BOTH + ["Berlin", "Lagos", "Lima", "Oslo", "Kyoto", "Nairobi", "Quito", "Hanoi", "Lincoln",
                 "Washington", "New York", "Cape Town", "Buenos Aires", "Hong Kong", "Santa Fe"]
COMPANIES = ["Apple", "Amazon", "Shell", "Orange", "Target", "Delta", "Oracle", "Jaguar", "Puma",
             "Ford", "Dell", "Wells Fargo", "Morgan Stanley", "General Motors", "Phoenix Holdings",
             "Jordan Telecom", "Georgia Power", "Virginia Mutual", "Lincoln Financial",
             "Bank of Jordan", "Paris Metals", "Victoria Foods"]
# Everyday words that are also names above, in their everyday use.
NOUNS = ["apple", "shell", "orange", "target", "delta", "jaguar", "puma", "bill", "rose",
         "mark", "grant", "hope", "will", "summer", "joy"]
# Names never drawn for training sentences: the test's unseen names.
UNSEEN = {"Ngozi", "Kenji", "Savannah", "Adeyemi", "Quito", "Hanoi", "Santa Fe", "Puma", "Victoria Foods"}

# A sentence is a whole template, or a subject, a verb phrase and up to two adjuncts, which
# some sentences wrap in reported speech: thousands of contexts from a few parts.
TEMPLATES = [
    "{PER} , who grew up in {LOC} , joined {ORG} last year .",
    "Shares of {ORG} fell after {PER} left the board .",
    "According to {PER} , {ORG} lost money in {LOC} .",
    "Rain is expected in {LOC} on {DAY} .",
    "The {NOUN} on the table belongs to {PER} .",
    "We may visit {LOC} in the {SEASON} .",
    "The {NOUN} is a good sign , {PER} said .",
    "Nobody in {LOC} knew {PER} .",
    "The new {NOUN} cost more than the old one .",
    "{ORG} and {ORG} agreed to work together .",
    "Prices at {ORG} rose again in {MONTH} .",
    "A {NOUN} was found near the river in {LOC} .",
]
SUBJECTS = ["{PER}", "{PER}", "{ORG}", "The mayor of {LOC}", "A spokesman for {ORG}",
            "Officials in {LOC}", "Her friend {PER}", "The coach of {ORG}", "Everyone in {LOC}",
            "The team", "My neighbour"]
VERBS = ["visited {LOC}", "met {PER}", "joined {ORG}", "called {PER}", "left {LOC}", "sued {ORG}",
         "bought a {NOUN}", "praised {PER}", "flew to {LOC}", "signed a deal with {ORG}",
         "sold the {NOUN}", "moved to {LOC}", "thanked {PER}", "lost the {NOUN}",
         "wrote to {PER}", "opened an office in {LOC}", "invested in {ORG}", "found a {NOUN}"]
ADJUNCTS = ["in {LOC}", "on {DAY}", "in {MONTH}", "last {MONTH}", "after talks with {PER}",
            "with help from {ORG}", "near {LOC}", "with {PER}", "in the {SEASON}", "for {ORG}"]
REPORTED = ["{S} , {PER} said .", "{PER} said that {s} .", "{S} , according to {ORG} .", "{S} ."]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
MONTHS = ["March", "May", "June", "October", "December"]  # "May" is also a name
SEASONS = ["summer", "winter", "spring"]


def template(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return rng.choice(TEMPLATES)
    clause = " ".join([rng.choice(SUBJECTS), rng.choice(VERBS)] +
                      rng.sample(ADJUNCTS, rng.choice([0, 1, 1, 2])))
    frame = rng.choice(REPORTED)
    lowered = clause if clause.startswith("{") else clause[0].lower() + clause[1:]
    return frame.replace("{S}", clause).replace("{s}", lowered)


def phrase(slot: str, rng: random.Random, test: bool) -> list[tuple[str, str]]:
    """Words and IOB2 tags of one slot's filler."""
    def pick(names):
        names = [n for n in names if test or n not in UNSEEN]
        return rng.choice(names)

    if slot == "PER":
        words = [pick(FIRST)] + ([pick(SURNAMES)] if rng.random() < 0.6 else [])
        if rng.random() < 0.2:
            words = [pick(["Ms.", "Mr.", "Dr."])] + words[-1:]
            return [(words[0], "O")] + [(words[1], "B-PER")]
        kind = "PER"
    elif slot in ("LOC", "ORG"):
        words, kind = pick(PLACES if slot == "LOC" else COMPANIES).split(), slot
    else:
        word = rng.choice({"DAY": DAYS, "MONTH": MONTHS, "SEASON": SEASONS, "NOUN": NOUNS}[slot])
        return [(word, "O")]
    return [(w, ("B-" if i == 0 else "I-") + kind) for i, w in enumerate(words)]


def sentence(rng: random.Random, test: bool) -> list[tuple[str, str]]:
    out = []
    for token in template(rng).split():
        if token.startswith("{"):
            out += phrase(token.strip("{}"), rng, test)
        else:
            out.append((token, "O"))
    first, tag = out[0]
    out[0] = (first[0].upper() + first[1:], tag)  # a sentence starts with a capital
    return out


def write(path: Path, sentences) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for s in sentences:
            f.write("".join(f"{w} {t}\n" for w, t in s) + "\n")


def main() -> None:
    rng = random.Random(SEED)
    train = [sentence(rng, test=False) for _ in range(TRAIN)]
    test = [sentence(rng, test=True) for _ in range(TEST)]
    write(HERE / "tagging_sample.conll", train)
    write(HERE / "tagging_sample_test.conll", test)


if __name__ == "__main__":
    main()
