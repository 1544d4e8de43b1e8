"""Evaluation metrics: language-model losses, and scikit-learn classification metrics."""
import math


def lm_metrics(nll_sum: float, tokens: int, chars: int) -> dict:
    """Loss in nats per token, bits per character and perplexity.

    bpc divides the total bits by the characters of the evaluated text, so char, word
    and BPE models are comparable (a word model's per-token loss is not).
    """
    loss = nll_sum / max(tokens, 1)
    return {"loss": loss, "bpc": nll_sum / max(chars, 1) / math.log(2),
            "perplexity": math.exp(min(loss, 700.0)), "tokens": tokens, "chars": chars}
