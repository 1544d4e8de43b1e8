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


def classification_metrics(y_true, y_pred, proba, names: list[str]) -> dict:
    """Accuracy, macro precision/recall/F1, the per-class report and the confusion matrix
    (rows: true class, columns: predicted), plus ROC-AUC when there are two classes."""
    import numpy as np
    from sklearn import metrics as skm

    labels = list(range(len(names)))
    p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels,
                                                     average="macro", zero_division=0)
    out = {"accuracy": float(skm.accuracy_score(y_true, y_pred)), "macro_precision": float(p),
           "macro_recall": float(r), "macro_f1": float(f), "examples": len(y_true),
           "report": skm.classification_report(y_true, y_pred, labels=labels, target_names=names,
                                                output_dict=True, zero_division=0),
           "report_text": skm.classification_report(y_true, y_pred, labels=labels, target_names=names,
                                                     digits=4, zero_division=0),
           "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
           "labels": list(names)}
    if len(names) == 2 and len(set(y_true)) == 2:
        out["roc_auc"] = float(skm.roc_auc_score(y_true, np.asarray(proba)[:, 1]))
    return out


def format_report(m: dict) -> str:
    """scikit-learn's text report, ROC-AUC and the confusion matrix, for printing."""
    names = m["labels"]
    width = max(9, *(len(n) for n in names))
    lines = [m["report_text"].rstrip()]
    if "roc_auc" in m:
        lines.append(f"\n{'ROC-AUC':>{width}} {m['roc_auc']:.4f}")
    lines.append("\nconfusion matrix (rows: true, columns: predicted)")
    lines.append(" " * width + " " + " ".join(f"{n[:9]:>9}" for n in names))
    for n, row in zip(names, m["confusion_matrix"]):
        lines.append(f"{n:>{width}} " + " ".join(f"{v:9d}" for v in row))
    return "\n".join(lines)


def edit_distance(ref, hyp) -> int:
    """Levenshtein distance between two sequences (words or characters): the fewest
    substitutions, deletions and insertions that turn `ref` into `hyp`."""
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


def error_rates(references: list[str], hypotheses: list[str]) -> dict:
    """Word and character error rates over a corpus: the edit distances summed, over the
    references' words (or characters, spaces included) summed, as jiwer and the speech
    literature count them. Both sides should be normalised alike first."""
    word_errors = sum(edit_distance(r.split(), h.split()) for r, h in zip(references, hypotheses))
    char_errors = sum(edit_distance(r, h) for r, h in zip(references, hypotheses))
    words = sum(len(r.split()) for r in references)
    chars = sum(len(r) for r in references)
    return {"wer": word_errors / max(words, 1), "cer": char_errors / max(chars, 1),
            "words": words, "chars": chars}
