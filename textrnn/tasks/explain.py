"""Which tokens pushed a classifier to its label: occlusion (Zeiler and Fergus 2014).

Each token in turn is read as <unk>, the token every unseen word becomes, and its
contribution is how much the chosen label's probability falls: positive for a token that
supports the label, negative for one that argues against it. One batched pass over
n + 1 copies of the text; exact for the model, with no gradients involved."""
from ..errors import DataError
from ..tokenization import PAD_ID, UNK_ID, as_text, markup_spans

METHOD = ("occlusion: each token's contribution is how much the label's probability falls "
          "when that token is read as an unknown word")


def contributions(clf, text: str, max_tokens: int) -> dict:
    """The label's probability and every token's span (character offsets into `text`) and
    contribution."""
    # As the classifier reads it: cut to the tokenizer's length, from its start or its end;
    # the offsets are those of the tokens kept.
    enc = as_text(clf.tokenizer).encode(text, add_special_tokens=False)
    ids = enc.ids or [PAD_ID]
    if len(ids) > max_tokens:
        raise DataError(f"the text has {len(ids)} tokens; token contributions are computed "
                        f"for at most {max_tokens}; shorten it or ask without explain")
    occluded = [ids[:i] + [UNK_ID] + ids[i + 1:] for i in range(len(ids))]
    proba = clf.proba_of_ids([ids] + occluded)  # (n + 1, C)
    best = int(proba[0].argmax())
    drop = (proba[0, best] - proba[1:, best]).tolist()
    spans = visible(enc.offsets, markup_spans(clf.tokenizer, text))
    return {"label": clf.labels[best], "method": METHOD,
            "tokens": [{"text": text[s:e], "start": s, "end": e, "contribution": d}
                       for (s, e), d in zip(spans, drop)]}


def visible(spans, markup) -> list[tuple[int, int]]:
    """Each token's (start, end) cut to the text a reader sees: a token that the
    tokenizer's markup stripping ran into (the space a `<br />` became, or a word right
    after one) loses the markup's characters at its ends; a token of markup alone is
    left empty, at the markup's end."""
    out = []
    for s, e in spans:
        for a, b in markup:
            if a <= s < b:
                s = b
            if a < e <= b:
                e = a
        out.append((s, max(s, e)))
    return out
