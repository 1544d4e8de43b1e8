"""Tag schemes for spans (named entities, chunks): IOB1, IOB2 (BIO) and BIOES, and "none"
for tags that mark no spans (parts of speech).

A span tag is PREFIX-TYPE, PREFIX one of B (begin), I (inside), E (end), S (single; L and U,
BILOU's names for E and S, read the same) or the tag O (outside). The schemes differ only
in which prefix a token gets:
- IOB1 (Ramshaw & Marcus 1995; CoNLL-2003's files): I throughout, B only for the first
  token of a span that directly follows a span of the same type;
- IOB2 (BIO; Tjong Kim Sang & Veenstra 1999): B on every span's first token, I after;
- BIOES (IOBES; Ratinov & Roth 2009, Lample et al. 2016): S for a one-token span, else B,
  I..., E.

Spans are read by one rule for every scheme, CoNLL's conlleval rule: a token continues the
open span when it is I or E of the same type and the token before it is B or I of that type;
any other non-O tag starts a new span. So "I-PER" after "O" starts a span (the repair an
invalid IOB2 file gets: it reads as "B-PER"), and a sequence read in one scheme and written
in another keeps its spans.
"""
from ..errors import DataError

SCHEMES = ("iob1", "iob2", "bioes", "none")
SPAN_SCHEMES = SCHEMES[:3]
PREFIXES = {"B": "B", "I": "I", "E": "E", "S": "S", "L": "E", "U": "S"}
OUTSIDE = "O"


def split_tag(tag: str) -> tuple[str, str]:
    """("B", "PER") of "B-PER" (or "B_PER"), ("O", "") of "O"; None where `tag` is no span
    tag."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    if len(tag) > 2 and tag[1] in "-_" and tag[0] in PREFIXES:
        return PREFIXES[tag[0]], tag[2:]
    return None


def detect(tag_lists) -> str:
    """The scheme of a data set's tags: "none" unless every tag is a span tag; BIOES if an
    E or S appears; IOB1 if an I ever starts a span or only I and O appear; else IOB2."""
    seen = set()
    iob1 = False
    for tags in tag_lists:
        prev = (OUTSIDE, "")
        for tag in tags:
            part = split_tag(tag)
            if part is None:
                return "none"
            seen.add(part[0])
            if part[0] == "I" and not (prev[1] == part[1] and prev[0] in "BI"):
                iob1 = True
            prev = part
    if seen & {"E", "S"}:
        return "bioes"
    if iob1 or ("B" not in seen and "I" in seen):
        return "iob1"
    return "iob2"


def spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, first, end) of each span, `end` exclusive, by the rule above (any scheme)."""
    found, start, prev = [], None, (OUTSIDE, "")
    for i, tag in enumerate(list(tags) + [OUTSIDE]):
        prefix, kind = split_tag(tag) or (OUTSIDE, "")
        continues = prefix in "IE" and kind == prev[1] and prev[0] in "BI"
        if start is not None and not continues:
            found.append((prev[1], start, i))
            start = None
        if prefix != OUTSIDE and not continues:
            start = i
        prev = (prefix, kind)
    return found


def from_spans(found, length: int, scheme: str) -> list[str]:
    """The tags of `length` tokens whose spans are `found`, written in `scheme`."""
    tags = [OUTSIDE] * length
    last_end = {}  # a type's last span's end: IOB1 marks a span that directly follows one with B
    for kind, first, end in found:
        for i in range(first, end):
            tags[i] = f"I-{kind}"
        if scheme == "iob2" or (scheme == "iob1" and last_end.get(kind) == first):
            tags[first] = f"B-{kind}"
        elif scheme == "bioes":
            if end - first == 1:
                tags[first] = f"S-{kind}"
            else:
                tags[first], tags[end - 1] = f"B-{kind}", f"E-{kind}"
        last_end[kind] = end
    return tags


def convert(tags: list[str], scheme: str) -> list[str]:
    """`tags` written in `scheme` (spans kept; "none" leaves them as they are)."""
    return list(tags) if scheme == "none" else from_spans(spans(tags), len(tags), scheme)


def check_tags(tag_lists, scheme: str, source: str, lines=None) -> None:
    """Refuse a tag that `scheme` cannot hold (a span scheme takes only PREFIX-TYPE and O);
    `lines`: each word's line in the file, where known."""
    if scheme == "none":
        return
    for n, tags in enumerate(tag_lists):
        for i, tag in enumerate(tags):
            if split_tag(tag) is None:
                where = f"line {lines[n][i]}" if lines else f"sentence {n + 1}, word {i + 1}"
                raise DataError(f"{source}: {where} has tag {tag!r}, which the {scheme.upper()} scheme "
                                "cannot hold (B-TYPE, I-TYPE, E-TYPE, S-TYPE or O); pass the right "
                                "--scheme (none for tags without spans)")


def allowed(prev: str | None, tag: str, scheme: str) -> bool:
    """Whether `tag` may follow `prev` (None: the sentence's start; `tag` None: its end) in
    valid `scheme` text; a CRF forbids the rest, so it never decodes an ill-formed
    sequence (an I-PER after O in IOB2)."""
    if scheme not in ("iob2", "bioes"):
        return True  # IOB1 reads any sequence, and "none" has no spans
    p, pk = split_tag(prev) if prev else (OUTSIDE, "")
    t, tk = split_tag(tag) if tag else (OUTSIDE, "")
    open_span = p in "BI" and scheme == "bioes"  # a BIOES span must close with E
    if t in "IE":
        return p in "BI" and pk == tk
    return not open_span
