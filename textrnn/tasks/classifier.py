"""A trained classifier in use: its probabilities (raw, or at the temperature fitted on
validation), scores, `textrnn predict`, `textrnn evaluate` and POST /v1/classify."""
import json
from dataclasses import dataclass

import torch

from ..calibration import calibration_metrics, reliability, with_temperature
from ..data import Labelled, bucketed_batches, collate, encode_texts, label_ids, load_labelled
from ..device import autocast
from ..metrics import classification_metrics, format_report
from ..models import evaluating
from ..outputs import check_output, write_output
from ..settings import setting
from ..world import World
from .base import LoadedRun, check_texts, one_source
from .explain import contributions
from .text_input import TextInput, texts_of


@dataclass
class Probabilities:
    """How a classifier's probabilities are made: its own, calibrated, or averaged with others."""
    ensemble: str | None = setting(None, "average the probabilities with this classifier run's (a folder "
                                   "or Hub model id; the "
                                   "same labels and tokenizer: a backward model beside a forward "
                                   "one, say)", metavar="RUN")
    temperature: bool = setting(True, "use the temperature fitted on validation at training (off: "
                                "raw probabilities)")


@dataclass
class ClassifierEvaluation(Probabilities):
    """`textrnn evaluate` on a classifier: scikit-learn's report, calibration (ECE, Brier, NLL)
    and a reliability diagram."""
    text_column: str | None = setting(None, "column holding the text in tables and Hub datasets")
    label_column: str | None = setting(None, "column holding the label")
    split: str = setting("test", "dataset split of --data for Hub ids")
    reliability_plot: str | None = setting("reliability.png", "where to save the reliability "
                                           "diagram (PNG); an empty value: none")


@dataclass
class PredictSettings(Probabilities, TextInput):
    """`textrnn predict`: each text's label and its probability."""


@dataclass
class ClassifyRequest:
    """POST /v1/classify's body."""
    texts: list[str] = setting([], "texts to label", required=True)
    explain: bool = setting(False, "also each token's contribution to the label (occlusion)")


@torch.no_grad()
def class_log_proba(model, seqs: list[list[int]], device, precision="fp32", batch_size=128,
                    progress=False, world=World()):
    """Class log-probabilities (N, C) of token-id sequences, in their original order (raw:
    no temperature).

    Sequences are batched by length (little padding); packing makes each result the
    same as running the sequence alone. Under torchrun each rank reads a share of the
    batches, and every rank gets every result.
    """
    from tqdm.auto import tqdm

    out = torch.empty(len(seqs), len(model.cfg.head.labels))
    batches = bucketed_batches([len(s) for s in seqs], batch_size, seed=0, shuffle=False)
    mine = []
    with evaluating(model):
        for idx in tqdm(batches[world.share(len(batches))], disable=not progress, unit="batch",
                        desc="predicting"):
            ids, lengths = collate([seqs[i] for i in idx])
            with autocast(device, precision):
                logits = model(ids.to(device), lengths.to(device))
            mine.append((idx, torch.log_softmax(logits.float(), -1).cpu()))
    for idx, part in (p for rank in world.gather(mine) for p in rank):
        out[idx] = part
    return out


def classify(model, seqs: list[list[int]], device, precision="fp32", batch_size=128, progress=False,
             world=World(), temperature: float = 1.0):
    """Class probabilities (N, C) of token-id sequences at `temperature` (see class_log_proba)."""
    return with_temperature(class_log_proba(model, seqs, device, precision, batch_size, progress,
                                            world), temperature)


def scores(proba, labels: list[int], names, bins: bool = False) -> dict:
    """scikit-learn's classification metrics of probabilities (N, C), with their loss (NLL)
    and calibration (ECE, Brier); with `bins`, the reliability diagram's bins too."""
    y = torch.tensor(labels)
    metrics = classification_metrics(labels, proba.argmax(-1).tolist(), proba.numpy(), names)
    calibration = calibration_metrics(proba, y)
    metrics.update(loss=calibration.pop("nll"), **calibration)
    return dict(metrics, reliability=reliability(proba, y)) if bins else metrics


def evaluate_classifier(model, seqs, labels, names, device, precision="fp32", progress=False,
                        world=World(), batch_size=128) -> dict:
    """Validation metrics of raw probabilities, as training compares its evaluations."""
    return scores(classify(model, seqs, device, precision, batch_size, progress, world), labels, names)


def read_labelled(path_or_dataset, labels: list[str], text_column=None, label_column=None,
                  split="test") -> tuple[list[str], list[int]]:
    """(texts, class ids in `labels`) of a labelled file, folder or Hub dataset (or a
    `Labelled`), for an evaluation."""
    data = path_or_dataset
    if not isinstance(data, Labelled):
        data = load_labelled(path_or_dataset, text_column, label_column, split)
    return data.texts, label_ids(data, labels, str(path_or_dataset))


def describe_scores(m: dict) -> str:
    """The report, then how honest the probabilities are."""
    how = (f"at temperature {m['temperature']:.3g}, fitted on validation" if m.get("calibrated")
           else "raw")
    lines = [format_report(m), f"\nprobabilities {how}: ECE {m['ece']:.4f}  Brier {m['brier']:.4f}  "
             f"NLL {m['loss']:.4f}"] if "ece" in m else [format_report(m)]
    if m.get("reliability_plot"):
        lines.append(f"reliability diagram: {m['reliability_plot']}")
    return "\n".join(lines)


class Classifier(LoadedRun):
    """A trained text classifier with its tokenizer, label names and temperature."""
    noun = "classifier"
    describe = staticmethod(describe_scores)

    @property
    def labels(self) -> list[str]:
        return list(self.model.cfg.head.labels)

    @property
    def temperature(self) -> float:
        """The temperature fitted on validation at training (1.0: none was)."""
        return float(self.model.cfg.head.temperature)

    def _encode(self, texts) -> list[list[int]]:
        return encode_texts(self.tokenizer, check_texts(texts))

    def log_proba_of_ids(self, seqs: list[list[int]], progress: bool = False, batch_size: int = 128):
        """Raw class log-probabilities (N, C), a tensor, of token-id sequences."""
        return class_log_proba(self.model, seqs, self.device, batch_size=batch_size, progress=progress)

    def proba_of_ids(self, seqs: list[list[int]], progress: bool = False, batch_size: int = 128,
                     calibrated: bool = True):
        """Class probabilities (N, C), a tensor, of token-id sequences: at the fitted temperature
        unless not `calibrated`."""
        t = self.temperature if calibrated else 1.0
        return with_temperature(self.log_proba_of_ids(seqs, progress, batch_size), t)

    def predict_proba(self, texts, progress: bool = False, batch_size: int = 128, calibrated: bool = True):
        """Probabilities, a numpy array (n, classes) with columns in `labels` order; calibrated
        by the fitted temperature unless `calibrated=False`."""
        return self.proba_of_ids(self._encode(texts), progress, batch_size, calibrated).numpy()

    def predict(self, texts, progress: bool = False) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(texts, progress).argmax(-1)]

    def evaluate(self, path_or_dataset, text_column=None, label_column=None, split="test",
                 progress: bool = False, batch_size: int = 128, calibrated: bool = True) -> dict:
        """scikit-learn metrics, ECE, Brier and NLL on a labelled file, folder or Hub dataset
        (or a `Labelled`), with the reliability diagram's bins."""
        texts, ids = read_labelled(path_or_dataset, self.labels, text_column, label_column, split)
        proba = torch.as_tensor(self.predict_proba(texts, progress, batch_size, calibrated))
        return dict(scores(proba, ids, self.labels, bins=True), **self.calibration(calibrated))

    def calibration(self, calibrated: bool = True) -> dict:
        """What the probabilities are: the temperature used, and whether it was fitted."""
        return {"temperature": self.temperature if calibrated else 1.0,
                "calibrated": calibrated and self.temperature != 1.0}

    def ensemble(self, *others):
        """This classifier and `others` (run folders or loaded classifiers) as one, whose
        probabilities are the mean of theirs (ULMFiT's forward + backward ensemble)."""
        from .ensemble import Ensemble

        return Ensemble([self, *others])

    def evaluate_source(self, sources, settings: ClassifierEvaluation, progress=False,
                        batch_size=None) -> dict:
        if settings.reliability_plot:  # a bad path fails before the scoring, not after
            check_output(settings.reliability_plot, "reliability_plot")
        run = self.ensemble(settings.ensemble) if settings.ensemble else self
        metrics = run.evaluate(one_source(sources, "a classifier"), settings.text_column,
                               settings.label_column, settings.split, progress, batch_size or 128,
                               settings.temperature)
        if settings.reliability_plot:
            save_reliability(metrics, settings.reliability_plot)
        return metrics

    def info(self) -> dict:
        return {"labels": self.labels, **self.calibration()}


def save_reliability(metrics: dict, path: str) -> None:
    """The reliability diagram of `metrics` to `path` (written whole or not at all, never over
    a run's own file)."""
    from ..plots import plot_reliability

    label = f"{'calibrated' if metrics['calibrated'] else 'raw'} (ECE {metrics['ece']:.3f})"
    write_output(path, lambda tmp: plot_reliability({label: metrics["reliability"]}, tmp),
                 "reliability_plot")
    metrics["reliability_plot"] = str(path)


def predict_command(clf: Classifier, settings: PredictSettings, write, progress: bool) -> None:
    """`textrnn predict`: a line per text, label, probability and text (or JSON)."""
    texts = texts_of(settings, "classify")
    run = clf.ensemble(settings.ensemble) if settings.ensemble else clf
    proba = run.predict_proba(texts, progress=len(texts) > 1000 and progress,
                              calibrated=settings.temperature)
    for text, p in zip(texts, proba):
        best = int(p.argmax())
        if settings.json:
            write(json.dumps({"text": text, "label": run.labels[best], "probability": float(p[best]),
                              "probabilities": dict(zip(run.labels, map(float, p)))}) + "\n")
        else:
            write(f"{run.labels[best]}\t{p[best]:.4f}\t{text}\n")


def classify_endpoint(server, name: str, clf: Classifier, body: ClassifyRequest) -> dict:
    """POST /v1/classify: each text's label and probabilities, and with `explain` its
    tokens' contributions."""
    server.cap_texts(body.texts)
    proba = clf.predict_proba(body.texts)  # (n, classes), at the fitted temperature
    results = [{"label": clf.labels[int(p.argmax())],
                "probabilities": dict(zip(clf.labels, map(float, p)))} for p in proba]
    if body.explain:
        for text, r in zip(body.texts, results):
            r["explanation"] = contributions(clf, text, server.cfg.max_explain_tokens)
    return {"model": name, **clf.calibration(), "results": results}
