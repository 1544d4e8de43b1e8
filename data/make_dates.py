"""Generate the bundled translation sample: dates written out in English words, each paired
with the same date in ISO 8601 digits.

    python data/make_dates.py          # writes data/dates_{train,test}.{words,iso}

Each line of a .words file is one date in one of six written styles, chosen at random:

    the twenty-first of march nineteen eighty-four    ->  1984-03-21
    march the twenty-first, two thousand and nine      ->  2009-03-21
    21 march 1984                                      ->  1984-03-21
    saturday the 3rd of may, twenty twenty             ->  2020-05-03

The target puts the year first, so a translator must read the whole phrase and reorder
it; years are spelt in three ways ("nineteen eighty-four", "two thousand and nine",
"twenty twenty"). Dates are uniform over 1900-01-01 to 2099-12-31 (weekdays correct for
the Gregorian calendar). Seed 2026; 6,000 training and 1,000 test pairs, no date in both.
"""
import datetime
import random
from pathlib import Path

SEED, TRAIN, TEST = 2026, 6000, 1000
ONES = ["", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
        "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
           "nine": "ninth", "twelve": "twelfth"}
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def cardinal(n: int) -> str:
    """0 < n < 100 in words: "forty-two"."""
    return ONES[n] if n < 20 else TENS[n // 10] + ("-" + ONES[n % 10] if n % 10 else "")


def ordinal(n: int) -> str:
    """1 <= n <= 31 in words: "twenty-first", "thirtieth"."""
    words = cardinal(n)
    head, _, last = words.rpartition("-")
    last = ORDINAL.get(last, last[:-1] + "ieth" if last.endswith("y") else last + "th")
    return f"{head}-{last}" if head else last


def suffixed(n: int) -> str:
    """3 -> "3rd", 11 -> "11th"."""
    end = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{end}"


def year_words(y: int, rng: random.Random) -> str:
    hi, lo = divmod(y, 100)
    if y >= 2000 and (lo < 10 or rng.random() < 0.5):
        return "two thousand" + (f" and {cardinal(lo)}" if lo else "")
    if lo == 0:
        return f"{cardinal(hi)} hundred"
    return f"{cardinal(hi)} {'oh ' + cardinal(lo) if lo < 10 else cardinal(lo)}"


def written(d: datetime.date, rng: random.Random) -> str:
    month, year = MONTHS[d.month - 1], year_words(d.year, rng)
    style = rng.randrange(6)
    if style == 0:
        return f"the {ordinal(d.day)} of {month} {year}"
    if style == 1:
        return f"{month} the {ordinal(d.day)}, {year}"
    if style == 2:
        return f"{d.day} {month} {d.year}"
    if style == 3:
        return f"{DAYS[d.weekday()]} the {suffixed(d.day)} of {month}, {year}"
    if style == 4:
        return f"{month} {suffixed(d.day)} {d.year}"
    return f"{ordinal(d.day)} {month} {year}"


def main():
    rng = random.Random(SEED)
    first, span = datetime.date(1900, 1, 1), (datetime.date(2099, 12, 31) - datetime.date(1900, 1, 1)).days
    days = rng.sample(range(span + 1), TRAIN + TEST)  # distinct dates: none in both splits
    out = Path(__file__).parent
    for name, part in (("train", days[:TRAIN]), ("test", days[TRAIN:])):
        dates = [first + datetime.timedelta(days=n) for n in part]
        (out / f"dates_{name}.words").write_text("".join(written(d, rng) + "\n" for d in dates))
        (out / f"dates_{name}.iso").write_text("".join(d.isoformat() + "\n" for d in dates))


if __name__ == "__main__":
    main()
