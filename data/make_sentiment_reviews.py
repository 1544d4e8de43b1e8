"""Generate data/sentiment_reviews.csv: short labelled reviews of everyday things, in
everyday words, whose label follows rules a bag of words cannot see (negation, contrast,
concession), from a fixed seed.

    python data/make_sentiment_reviews.py            # rewrites data/sentiment_reviews.csv

A review is one to three parts about a film, book, meal, stay, gadget, app or album: a
statement about one aspect ("the pasta was not very fresh"), a verb of liking ("I didn't
enjoy the ending"), a noun verdict ("the plot is a mess") or an overall verdict ("I would
happily go back"). A part has the polarity of its sentiment word, flipped by a negation;
intensifiers change nothing; "too"/"far too" makes a neutral word ("long", "loud")
negative. Parts join by rules: "A and B" agree; "A but B", "although A, B", "A; however,
B", "A, yet B" and the short "bad start, good ending" take B's side; "A, even if B" takes
A's. About 1,100 sentiment words (this script's 324, and 770 adjectives from VADER's
lexicon: pip install vaderSentiment) and 330 phrases. The data card is in data/README.md.

Rows that share a sentence or any 4-gram of words with data/everyday_sentiment.csv (the
held-out set that measures the demo) are dropped, so that set stays unseen.
"""
import csv
import importlib.resources
import random
import re
from pathlib import Path

SEED, ROWS = 20261207, 20000
HERE = Path(__file__).resolve().parent
OUT = HERE / "sentiment_reviews.csv"
HELD_OUT_SET = HERE / "everyday_sentiment.csv"

# Each domain: the things reviewed and their aspects ("+s" marks a plural aspect).
DOMAINS = {
    "film": (["film", "movie", "show", "series", "documentary", "sequel", "cartoon"],
             ["acting", "plot", "script", "dialogue", "ending", "pacing", "soundtrack", "story",
              "direction", "opening", "finale", "lead actor", "villain", "score", "cinematography",
              "jokes+s", "characters+s", "effects+s", "visuals+s", "performances+s", "twists+s"]),
    "book": (["book", "novel", "memoir", "thriller", "cookbook", "biography", "comic"],
             ["writing", "prose", "plot", "ending", "story", "translation", "cover", "narrator",
              "first chapter", "heroine", "chapters+s", "characters+s", "recipes+s", "illustrations+s"]),
    "meal": (["restaurant", "cafe", "bistro", "diner", "bakery", "pub", "takeaway", "food truck"],
             ["food", "service", "waiter", "pasta", "steak", "soup", "coffee", "dessert", "menu",
              "atmosphere", "wine", "bread", "curry", "burger", "salad", "pizza", "cake",
              "breakfast", "staff+s", "portions+s", "prices+s", "chips+s", "noodles+s"]),
    "stay": (["hotel", "hostel", "apartment", "resort", "guest house", "campsite", "inn"],
             ["room", "bed", "breakfast", "location", "bathroom", "view", "pool", "wifi",
              "reception", "shower", "check in", "lobby", "staff+s", "towels+s", "pillows+s"]),
    "gadget": (["phone", "laptop", "headset", "speaker", "camera", "kettle", "blender", "charger",
                "watch", "printer", "vacuum", "tablet", "mouse"],
               ["battery", "screen", "sound", "build", "keyboard", "design", "software", "case",
                "display", "charging", "setup", "manual", "buttons+s", "speakers+s", "controls+s"]),
    "app": (["app", "game", "website", "service", "subscription", "course"],
            ["interface", "checkout", "login", "layout", "search", "support team", "sign up",
             "tutorial", "levels+s", "graphics+s", "updates+s", "lessons+s", "features+s"]),
    "album": (["album", "concert", "song", "record", "band", "musical", "gig"],
              ["vocals", "sound", "mixing", "drummer", "encore", "chorus", "production", "singer",
               "lyrics+s", "songs+s", "melodies+s", "dancers+s"]),
}

POSITIVE = """good great wonderful brilliant lovely excellent superb charming delightful gripping
moving clever fresh solid beautiful funny sharp warm stunning memorable fantastic amazing awesome
terrific outstanding perfect pleasant enjoyable impressive gorgeous tasty delicious friendly
helpful comfortable clean spotless cosy fast reliable smooth sturdy elegant witty hilarious
touching thoughtful inventive original fun exciting thrilling engaging compelling heartfelt
polished crisp bright generous welcoming attentive efficient intuitive affordable flawless
magnificent marvellous splendid fabulous refreshing satisfying rewarding addictive powerful
stylish tender juicy fluffy spacious peaceful handy useful lively vivid rich authentic nice
decent likeable lovable exquisite sublime dazzling breathtaking wholesome uplifting
heartwarming inspiring fascinating absorbing riveting captivating entertaining charismatic
convincing believable coherent tight punchy catchy soothing mellow gentle smart sleek responsive
speedy accurate sensible honest courteous cheerful kind prompt quick roomy airy tidy crispy
flavourful fragrant hearty moreish scrumptious sumptuous pristine immaculate dependable
robust durable seamless snappy slick playful joyful tasteful graceful masterful assured
confident ambitious bold fearless timeless classic""".split()

NEGATIVE = """bad awful terrible dull boring weak clumsy flat lifeless messy tedious poor bland
forgettable painful sloppy cheap annoying stiff lazy horrible dreadful disappointing mediocre
pointless predictable confusing rude dirty filthy noisy cramped slow unreliable flimsy broken
buggy laggy greasy stale soggy overcooked undercooked burnt tasteless overpriced unfriendly
unhelpful clunky awkward shallow cheesy cliched silly ridiculous pathetic useless worthless
frustrating irritating tiresome exhausting miserable dismal dire atrocious abysmal lousy
shoddy uncomfortable smelly grim wooden forced lame unbearable unwatchable unreadable inedible
hollow pretentious amateurish overlong bloated lacklustre underwhelming uninspired soulless
muddled incoherent disjointed sluggish faulty overrated mushy rubbery watery lukewarm chewy
oily dry tough overdone cold grubby shabby dingy stuffy musty damp leaky mouldy rickety
wobbly fiddly glitchy unresponsive sticky scratchy tinny muffled distorted grating shrill
monotonous repetitive derivative unoriginal generic formulaic contrived implausible
unconvincing unlikeable obnoxious smug condescending dismissive careless sullen surly
inattentive incompetent chaotic disorganised mean stingy measly meagre flavourless insipid
tacky ugly garish drab dreary gloomy bleak joyless charmless humourless pompous preachy
manipulative exploitative nasty vile disgusting revolting""".split()

# Neutral on their own, negative after "too": "far too long".
EXCESS = """long short slow loud quiet expensive sweet salty spicy small dark bright busy
crowded sentimental simple complicated serious long winded heavy rich hot""".split()

INTENSIFIERS = ["", "", "", "", "very ", "really ", "truly ", "incredibly ", "quite ", "so ",
                "remarkably ", "genuinely ", "properly ", "seriously ", "pretty ", "utterly ",
                "absolutely ", "extremely ", "rather ", "surprisingly ", "just "]

# A negation before a sentiment word flips it.
NEGATIONS = ["not", "not", "never", "hardly", "not very", "not at all", "not exactly",
             "not particularly", "far from", "anything but", "not remotely", "not that",
             "in no way", "by no means"]

NOUNS = {+1: """joy delight gem masterpiece treat triumph pleasure winner bargain must hit
             revelation marvel dream success breath of fresh air real find labour of love
             crowd pleaser page turner knockout showstopper steal godsend""",
         -1: """mess disaster letdown disappointment chore bore flop nightmare joke rip off
             shambles trainwreck car crash fiasco headache slog dud lemon con snoozefest
             failure travesty embarrassment"""}
# Multi-word nouns are kept whole: split only on the word lists' line breaks and double spaces.
NOUN_PHRASES = {p: re.findall(r"breath of fresh air|real find|labour of love|crowd pleaser|"
                              r"page turner|rip off|car crash|[a-z]+", s) for p, s in NOUNS.items()}

LIKE = {+1: ["loved", "enjoyed", "liked", "adored", "really liked", "appreciated", "savoured",
             "treasured", "relished", "was impressed by", "fell in love with", "was delighted by",
             "was won over by", "raved about"],
        -1: ["hated", "disliked", "loathed", "could not stand", "was bored by", "was annoyed by",
             "regretted", "despised", "was let down by", "was put off by", "gave up on",
             "was disappointed by", "got fed up with", "was fed up with"]}
LIKE_BASE = {+1: ["like", "love", "enjoy", "care for", "rate", "recommend", "appreciate"],
             -1: ["hate", "dislike", "mind", "regret"]}

VERDICTS = {+1: """I would recommend it to anyone | highly recommended | I will definitely be back
    | we would happily return | worth every cent | worth the wait | money well spent | a must see
    | a must read | a must try | ten out of ten | five stars | I cannot wait to go back
    | I would buy it again | my best purchase this year | a hidden gem | exceeded my expectations
    | it blew me away | it made my day | we had a great time | I was smiling all the way through
    | I could not put it down | I have already told my friends | we left very happy
    | it was worth it | I am so glad I went | I would go again in a heartbeat | a real pleasure
    | everyone should try it | it did not disappoint | a great night out | we loved every bit
    | it does exactly what it should | thoroughly enjoyable | a delight from start to end
    | I keep coming back to it | worth a visit | top marks | full marks | an easy five stars
    | I was pleasantly surprised | better than I hoped | it is a keeper""",
            -1: """I would not recommend it | avoid at all costs | never again | what a letdown
    | a total waste of money | save your money | do not bother | stay away | I asked for a refund
    | one star | zero stars | I regret buying it | I walked out early | I gave up after an hour
    | not worth the price | it fell apart | it broke within a week | a huge disappointment
    | a complete mess | a total disaster | I nearly dozed off | it put me to sleep
    | the worst I have tried | I expected much more | it did not live up to the hype
    | I returned it the next day | a rip off | we left hungry | I will not be going back
    | I will not be buying another | never again for me | I could not wait for it to end
    | I had to force myself to finish | it was a struggle to finish | money down the drain
    | I wish I had stayed home | we were glad to leave | I would give it zero if I could
    | a waste of an evening | it was not worth it | it ruined our trip | it gave me a headache
    | I sent it back | do yourself a favour and skip it"""}
VERDICTS = {p: [v.strip() for v in vs.split("|")] for p, vs in VERDICTS.items()}

# What recipes/sentiment.py prints: never generated, so they are held out by construction.
HELD_OUT = {"the food was not bad at all", "a gripping story and a superb cast",
            "great visuals but the story was really dull", "the script was not funny",
            "although the opening was slow, the ending was wonderful"}

# Everyday phrases with their polarity; verb phrases after "I would" / "I will" flip when
# negated ("I would not go back").
PHRASES = {+1: """it works like a charm | it works perfectly | it made me smile | I laughed out loud
    | I could not stop smiling | it had me in tears of joy | perfect for a lazy sunday
    | great for families | ideal for a long trip | good value | great value for the price
    | no complaints from me | no problems so far | nothing to complain about
    | nothing wrong with it at all | it never lets me down | I never get bored of it
    | I can never tire of it | it is my go to place | my all time favourite
    | my new favourite | the best I have ever had | the best we have ever stayed in
    | the best thing I have read this year | better than I expected | better than the reviews said
    | it more than made up for it | it kept us entertained | the time flew by
    | I was glued to the screen | I stayed up all night to finish it | they could not do enough for us
    | they went above and beyond | every detail was right | I was blown away
    | it is worth the money | it pays for itself | it still works like new | I am a big fan
    | a huge fan of it | we were made to feel welcome | they clearly know what they are doing
    | the chef knows his craft | it felt so real | it rang true | I did not want it to end
    | the kids begged to stay | we never wanted to leave | I would pay double for it
    | I will give them another go | I will happily give it another chance
    | I did not expect to enjoy it so much | I was surprised how much I liked it
    | it gets the job done | it does the job nicely | easily the best of the year
    | by far the funniest thing on television | it kept me guessing | it kept the kids busy for hours
    | it kept me entertained | it grabbed me from the first page | it is exactly what I needed
    | it fits perfectly | it was spot on | I could not ask for more | I can't fault it
    | I could not be happier | thumbs up | a joy to use | so easy to use | it aged well
    | it is the real deal | I am glad I bought it | it was a steal | I felt right at home""",
           -1: """it made me angry | I was bored stiff | I kept checking my watch | I felt sick afterwards
    | I dozed off twice | perfect if you like waiting | useless for anything serious | poor value
    | nothing special | nothing to write home about | nothing new here | no flavour at all
    | no effort went into it | it makes no sense | the plot made little sense | the worst I have ever had
    | the worst we have ever stayed in | the worst thing I have bought this year
    | worse than I expected | worse than the reviews said | it let us down | it keeps freezing
    | it stopped charging | it died after a month | the battery dies by lunchtime
    | it takes forever to load | we waited an hour for our food | nobody came to help
    | they could not care less | every detail was wrong | it is falling apart already
    | it is not worth the money | it looks nothing like the pictures | it ruined the evening
    | I could not get through it | I lost interest halfway | it went on and on | I am not a fan
    | not for me | not my kind of thing | it is not what we ordered | it was nothing like the description
    | I expected better from them | they can do much better | the noise kept us up | it barely works
    | it does not do the job | it failed to do the job | it fell short | it falls flat
    | it missed the mark | it left a bad taste | it left me cold | it left me bored
    | we could not wait to get out | I would not pay a penny for it | they lost a customer
    | I am done with them | thumbs down | it is all hype | style over substance
    | all show and no substance | hard to use | a pain to use | it feels cheap | it feels flimsy
    | it looks cheap | I nearly walked out | it went wrong from the start | I want a refund
    | it aged badly | I felt ripped off | it was a chore to sit through | I am sorry I bought it"""}
PHRASES = {p: [v.strip() for v in vs.split("|")] for p, vs in PHRASES.items()}
WOULD = {+1: ["go back", "go again", "buy it again", "watch it again", "read it again", "stay there again",
              "order it again", "recommend it", "book again", "return", "come back"],
         -1: ["go anywhere near it", "waste money on it", "sit through it again", "trust them",
              "bother with it", "risk it again"]}
MODALS = ["I would", "I will", "we would", "we will", "I'd", "we'd", "I'll"]
NEGATED_MODALS = ["I would not", "I will not", "I wouldn't", "I won't", "we would not", "we won't",
                  "I would never", "I will never", "we will never", "I'd never", "I don't think I will",
                  "I doubt I will"]


def everyday(rng, domain) -> tuple[str, int]:
    """An everyday phrase, or "I would (not) go back"."""
    polarity = rng.choice((1, -1))
    if rng.random() < 0.6:
        return rng.choice(PHRASES[polarity]), polarity
    if rng.random() < 0.45:
        return f"{rng.choice(NEGATED_MODALS)} {rng.choice(WOULD[polarity])}", -polarity
    return f"{rng.choice(MODALS)} {rng.choice(WOULD[polarity])}", polarity


def comparison(rng, domain) -> tuple[str, int]:
    """ "not as good as I hoped" (negative), "not as bad as they say" (positive)."""
    polarity = rng.choice((1, -1))
    word, (subject, plural) = sentiment_word(rng, polarity), aspect(rng, domain)
    than = rng.choice(["I hoped", "everyone says", "the reviews said", "the first one", "I remembered",
                       "last time", "they claim", "I expected", "the trailer promised"])
    if rng.random() < 0.5:
        return f"{subject} {be(rng, plural, True)} as {word} as {than}", -polarity
    degree = rng.choice([f"just as {word} as", f"as {word} as", f"even more {word} than"])
    return f"{subject} {be(rng, plural, False)} {degree} {than}", polarity


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def aspect(rng, domain) -> tuple[str, bool]:
    """("the pasta", plural?) or ("this film", False)."""
    things, parts = DOMAINS[domain]
    if rng.random() < 0.25:
        return f"{rng.choice(['this', 'the', 'that', 'our', 'my'])} {rng.choice(things)}", False
    name = rng.choice(parts)
    return f"the {name.removesuffix('+s')}", name.endswith("+s")


def be(rng, plural: bool, negated: bool) -> str:
    past = rng.random() < 0.6
    verb = ("were" if plural else "was") if past else ("are" if plural else "is")
    if negated and rng.random() < 0.3:  # the contraction: "wasn't"
        return verb + "n't"
    return verb + (" not" if negated else "")


# VADER's rated lexicon (Hutto & Gilbert 2014; MIT licence, in the vaderSentiment package)
# widens the sentiment words: its words rated clearly one way by its raters (mean at least
# 1.5 from neutral, spread at most 1.0) whose ending marks an adjective or participle.
ADJECTIVE_ENDINGS = re.compile(r"(ful|less|ous|ive|able|ible|ic|ish|ed|ing|[^itrc]y)$")
NOT_SHIPPED = re.compile(r"fuck|shit|bitch|cunt|dick|cock|piss|whore|slut|bastard|damn|ass|"
                         r"nigg|fag|retard|twat|wank|porn|sex|rape|kill|suicid|murder|terror")


def lexicon_words() -> dict:
    """{+1: [...], -1: [...]}: VADER's clear adjectives that this script's lists lack."""
    try:
        text = (importlib.resources.files("vaderSentiment") / "vader_lexicon.txt").read_text("utf-8")
    except ModuleNotFoundError:
        raise SystemExit("this script reads VADER's lexicon: pip install vaderSentiment") from None
    words = {+1: [], -1: []}
    for line in text.splitlines():
        word, mean, spread = line.split("\t")[:3]
        mean, spread = float(mean), float(spread)
        if (re.fullmatch(r"[a-z]{4,}", word) and abs(mean) >= 1.5 and spread <= 1.0
                and ADJECTIVE_ENDINGS.search(word) and not word.endswith("ly")
                and not NOT_SHIPPED.search(word) and word not in POSITIVE + NEGATIVE):
            words[1 if mean > 0 else -1].append(word)
    return words


LEXICON = lexicon_words()


def sentiment_word(rng, polarity: int) -> str:
    """A word of this side: this script's everyday words two times in three, else VADER's."""
    if rng.random() < 0.35:
        return rng.choice(LEXICON[polarity])
    return rng.choice(POSITIVE if polarity > 0 else NEGATIVE)


def statement(rng, domain) -> tuple[str, int]:
    """An aspect's quality, maybe negated or "too" much: (text, polarity)."""
    subject, plural = aspect(rng, domain)
    polarity, shape = rng.choice((1, -1)), rng.random()
    if shape < 0.12:  # "far too long" is negative whatever the word
        too = rng.choice(["too", "far too", "way too", "a bit too", "much too", "slightly too"])
        return f"{subject} {be(rng, plural, False)} {too} {rng.choice(EXCESS)}", -1
    word = sentiment_word(rng, polarity)
    if shape < 0.45:  # a negation flips the word
        if rng.random() < 0.35:
            return f"{subject} {be(rng, plural, True)} {rng.choice(INTENSIFIERS[:8])}{word}", -polarity
        neg = rng.choice(NEGATIONS)
        if neg == "not at all":
            return f"{subject} {be(rng, plural, False)} not {word} at all", -polarity
        return f"{subject} {be(rng, plural, False)} {neg} {word}", -polarity
    if shape < 0.6:  # a noun phrase: "a gripping plot", "gorgeous views"
        noun = subject.split(" ", 1)[1]
        if not plural and rng.random() < 0.5:
            return f"{article(word)} {word} {noun}", polarity
        return f"{rng.choice(['', 'such ', 'really '])}{word} {noun}".strip(), polarity
    return f"{subject} {be(rng, plural, False)} {rng.choice(INTENSIFIERS)}{word}", polarity


def liking(rng, domain) -> tuple[str, int]:
    """A verb of liking: "I enjoyed the soup", "we didn't like the staff"."""
    who = rng.choice(["I", "I", "I", "we", "my wife", "my husband", "the kids", "my friend",
                      "everyone", "my parents", "my partner", "nobody"])
    obj = rng.choice(["it", "it", "every minute of it", aspect(rng, domain)[0]])
    polarity = rng.choice((1, -1))
    if who == "nobody":  # "nobody enjoyed it": the subject negates
        return f"nobody {rng.choice(LIKE[polarity])} {obj}", -polarity
    if rng.random() < 0.4:  # negated: "did not like", "didn't enjoy", "could not love"
        verb = rng.choice(LIKE_BASE[polarity])
        aux = rng.choice(["did not", "didn't", "could not", "couldn't", "will never", "would never"]
                         + (["do not", "don't"] if who in ("I", "we") else []))
        return f"{who} {aux} {verb} {obj}", -polarity
    verb = rng.choice(LIKE[polarity])
    if who in ("we", "the kids", "my parents"):
        verb = verb.replace("was ", "were ")
    return f"{who} {verb} {obj}", polarity


def noun_verdict(rng, domain) -> tuple[str, int]:
    """ "the plot is a mess", "this hotel was no bargain", "what a joy"."""
    polarity = rng.choice((1, -1))
    noun = rng.choice(NOUN_PHRASES[polarity])
    shape = rng.random()
    if shape < 0.3:
        return f"what {article(noun)} {noun}", polarity
    subject, plural = aspect(rng, domain)
    if plural:
        subject, plural = f"the whole {rng.choice(DOMAINS[domain][0])}", False
    if shape < 0.5:  # negated noun: "was no bargain", "was not a disaster"
        neg = rng.choice([f"no {noun}", f"not {article(noun)} {noun}", f"hardly {article(noun)} {noun}"])
        return f"{subject} {be(rng, False, False)} {neg}", -polarity
    size = rng.choice(["", "", "real ", "total ", "complete ", "bit of a ", "huge ", "little "])
    phrase = f"{article(size or noun)} {size}{noun}" if size != "bit of a " else f"a bit of {article(noun)} {noun}"
    return f"{subject} {be(rng, False, False)} {phrase}", polarity


def verdict(rng, domain) -> tuple[str, int]:
    polarity = rng.choice((1, -1))
    return rng.choice(VERDICTS[polarity]), polarity


PARTS = [(statement, 0.40), (liking, 0.14), (noun_verdict, 0.10), (verdict, 0.12), (everyday, 0.16),
         (comparison, 0.08)]


def part(rng, domain) -> tuple[str, int]:
    r, total = rng.random(), 0.0
    for make, share in PARTS:
        total += share
        if r < total:
            return make(rng, domain)
    return statement(rng, domain)


# Parts of anything, for the short contrasts "bad start, good ending".
STAGES = ["start", "finish", "ending", "idea", "execution", "premise", "first half", "second half",
          "opening", "middle", "beginning", "concept", "first act", "last act", "value", "price"]


def short_contrast(rng) -> tuple[str, int]:
    """Two short noun phrases of opposite sides: the second decides ("nice idea, poor execution")."""
    a, b = rng.sample(STAGES, 2)
    polarity = rng.choice((1, -1))
    return f"{sentiment_word(rng, -polarity)} {a}, {sentiment_word(rng, polarity)} {b}", polarity


def review(rng) -> tuple[str, int]:
    """One to three parts joined by rules that decide the label."""
    domain = rng.choice(list(DOMAINS))
    if rng.random() < 0.05:
        return short_contrast(rng)
    a, pa = part(rng, domain)
    shape = rng.random()
    if shape < 0.3:
        return a, pa
    b, pb = part(rng, domain)
    wanted = pa if shape >= 0.75 else -pa  # contrasts join opposite sides, "and" the same
    while pb != wanted:
        b, pb = part(rng, domain)
    joins = [("{a} but {b}", "b"), ("{a}, but {b}", "b"), ("although {a}, {b}", "b"),
             ("even though {a}, {b}", "b"), ("{a}; however, {b}", "b"), ("{a}, yet {b}", "b"),
             ("while {a}, {b}", "b"), ("{a}, even if {b}", "a")]
    if shape < 0.75:
        form, side = rng.choice(joins)
        text, polarity = form.format(a=a, b=b), (pb if side == "b" else pa)
    else:
        text, polarity = f"{a}{rng.choice([' and ', ', ', '. '])}{b}", pa
    if rng.random() < 0.15:  # a third part on the winning side: "..., and I would go back"
        c, pc = part(rng, domain)
        while pc != polarity:
            c, pc = part(rng, domain)
        text = f"{text}, and {c}"
    return text, polarity


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def grams(text: str, n: int = 4) -> set:
    w = words(text)
    return {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}


def held_out() -> tuple[set, set]:
    """The held-out set's sentences (as word sequences) and 4-grams, which no row may share."""
    with open(HELD_OUT_SET, newline="", encoding="utf-8") as f:
        texts = [row["text"] for row in csv.DictReader(f)] + sorted(HELD_OUT)
    return {" ".join(words(t)) for t in texts}, set().union(*(grams(t) for t in texts))


def main():
    rng = random.Random(SEED)
    sentences, four_grams = held_out()
    rows, seen, dropped = [], set(), 0
    while len(rows) < ROWS:
        text, polarity = review(rng)
        if text in seen:
            continue
        seen.add(text)
        if " ".join(words(text)) in sentences or grams(text) & four_grams:
            dropped += 1
            continue
        rows.append((text, "positive" if polarity > 0 else "negative"))
    with open(OUT, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        w.writerow(["text", "label"])
        w.writerows(rows)
    print(f"{len(rows)} reviews -> {OUT} ({dropped} dropped for sharing a 4-gram with the held-out set)")


if __name__ == "__main__":
    main()
