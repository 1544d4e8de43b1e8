"""Generate data/sentiment_reviews.csv: short labelled reviews whose label follows rules a
bag of words cannot see (negation, contrast, concession), from a fixed seed.

    python data/make_sentiment_reviews.py            # rewrites data/sentiment_reviews.csv

A review is one or two clauses about a part of a film, book, meal, gadget or stay, or an
overall verdict. A clause has the polarity of its adjective, flipped by a negation ("was
not dull"); intensifiers ("really", "truly") change nothing. Two clauses: "A and B" agree;
"A but B" and "although A, B" take B's side; "A, even if B" takes A's. The data card is in
data/README.md. Only this script's own word lists are used.
"""
import csv
import random
from pathlib import Path

SEED, ROWS = 20261202, 4000
OUT = Path(__file__).resolve().parent / "sentiment_reviews.csv"

SINGULAR = ["the acting", "the plot", "the soundtrack", "the dialogue", "the ending", "the pacing",
            "the camera work", "the story", "the service", "the food", "the battery", "the screen",
            "the room", "the writing", "the script", "the opening", "the design", "the finale"]
PLURAL = ["the characters", "the jokes", "the visuals", "the staff", "the songs", "the effects"]
POSITIVE = ["good", "great", "wonderful", "brilliant", "lovely", "excellent", "superb", "charming",
            "delightful", "gripping", "moving", "clever", "fresh", "solid", "beautiful", "funny",
            "sharp", "warm", "stunning", "memorable"]
NEGATIVE = ["bad", "awful", "terrible", "dull", "boring", "weak", "clumsy", "flat", "lifeless",
            "messy", "tedious", "poor", "bland", "forgettable", "painful", "sloppy", "cheap",
            "annoying", "stiff", "lazy"]
INTENSIFIERS = ["", "", "", "very ", "really ", "truly ", "incredibly ", "quite ", "so ",
                "remarkably "]
VERDICTS = {+1: ["I loved it", "I enjoyed every minute", "I would recommend it", "worth every penny",
                 "a real treat", "I would go back tomorrow", "five stars from me"],
            -1: ["I hated it", "a waste of time", "I would not recommend it", "I want my money back",
                 "never again", "one star from me", "I regret every minute"]}
# What recipes/sentiment.py prints: never generated, so they are held out by construction.
HELD_OUT = {"the food was not bad at all", "a gripping story and a superb cast",
            "great visuals but the story was really dull", "the script was not funny",
            "although the opening was slow, the ending was wonderful"}


def clause(rng) -> tuple[str, int]:
    """(text, polarity +1/-1) of one statement about one part."""
    polarity = rng.choice((1, -1))
    adj = rng.choice(POSITIVE if polarity > 0 else NEGATIVE)
    plural = rng.random() < 0.25
    subject = rng.choice(PLURAL if plural else SINGULAR)
    verb = "were" if plural else "was"
    shape = rng.random()
    if shape < 0.35:  # negated: the polarity flips
        neg = rng.choice(["not", "never", "hardly", "not at all"] if not plural else ["not", "never"])
        tail = " at all" if neg == "not" and rng.random() < 0.3 else ""
        neg = "not" if neg == "not at all" else neg
        return f"{subject} {verb} {neg} {adj}{tail}", -polarity
    if shape < 0.55:  # a noun phrase: "a gripping plot"
        noun = subject.split(" ", 1)[1]
        article = "" if plural else ("an " if adj[0] in "aeiou" else "a ")
        return f"{article}{adj} {noun}", polarity
    return f"{subject} {verb} {rng.choice(INTENSIFIERS)}{adj}", polarity


def part(rng) -> tuple[str, int]:
    """A clause, or now and then an overall verdict."""
    if rng.random() < 0.15:
        polarity = rng.choice((1, -1))
        return rng.choice(VERDICTS[polarity]), polarity
    return clause(rng)


def review(rng) -> tuple[str, int]:
    a, pa = part(rng)
    shape = rng.random()
    if shape < 0.35:
        return a, pa
    b, pb = part(rng)
    while (pb == pa) if shape < 0.8 else (pb != pa):  # contrasts need opposite sides, "and" the same
        b, pb = part(rng)
    if shape < 0.6:
        return f"{a} but {b}", pb
    if shape < 0.7:
        return f"although {a}, {b}", pb
    if shape < 0.8:
        return f"{a}, even if {b}", pa
    return f"{a} and {b}", pa


def main():
    rng = random.Random(SEED)
    rows, seen = [], set(HELD_OUT)
    while len(rows) < ROWS:
        text, polarity = review(rng)
        if text not in seen:
            seen.add(text)
            rows.append((text, "positive" if polarity > 0 else "negative"))
    with open(OUT, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        w.writerow(["text", "label"])
        w.writerows(rows)
    print(f"{len(rows)} reviews -> {OUT}")


if __name__ == "__main__":
    main()
