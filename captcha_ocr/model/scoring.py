"""Score a model on labeled captchas, never mixing the two accuracies up.

- whole-captcha accuracy: the decoded text equals the label;
- per-character accuracy: the share of the `max_length` positions predicted
  right, padding positions included (the model must also say where a shorter
  text ends);
- accuracy per position and per captcha length, the most frequent character
  confusions, and accuracy against coverage (keep only the most confident X%);
- with groups of characters that a captcha's font draws alike (`alike`, e.g.
  "lI" in Arial), the whole-captcha accuracy with each group read as one
  character, and the most a reader that cannot tell them apart can expect to
  read exactly: a captcha holding such characters is a guess among each
  group's members (an expectation: a lucky test set can beat it).

Training scores its test set with it; `python -m captcha_ocr.evaluate` any model on any folder.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np

from captcha_ocr.core.images import scale_pixels

COVERAGES = (1.0, 0.95, 0.9, 0.8, 0.5)


TARGETS = (0.9, 0.95, 0.99)


def evaluate_arrays(model, images: np.ndarray, labels: np.ndarray, batch_size: int = 128, top_confusions: int = 20) -> dict:
    """Evaluate a captcha model on uint8 images and index labels.

    Args:
        model: a model from `build_model` (or loaded from a run).
        images: uint8 (n, H, W, C) at the model's input size.
        labels: int (n, max_length) class indices.

    Returns:
        A JSON-ready report (see the module docstring).
    """
    from captcha_ocr.model.layers import model_spec

    texts, confidence, pred = read_arrays(model, images, batch_size)
    return score(texts, confidence, pred, labels, model_spec(model).charset, top_confusions)


def read_arrays(model, images: np.ndarray, batch_size: int = 128, held: bool = True,
                chars: str | None = None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The model's readings of uint8 images: texts, confidences and per-position class indices (`decode`;
    ctc reads held to the charset's lengths, or with `held=False` greedy; with `chars`, only those characters)."""
    from captcha_ocr.model.decode import decode, only_chars
    from captcha_ocr.model.layers import model_spec

    spec = model_spec(model)
    logits = model.predict(scale_pixels(images), batch_size=batch_size, verbose=0)
    if chars is not None:
        logits = only_chars(logits, spec.charset, chars)
    return decode(logits, spec.charset, spec.loss, held)


def score(texts: list[str], confidence: np.ndarray, pred: np.ndarray, labels: np.ndarray, charset, top_confusions: int = 20,
          alike: Sequence[str] = ()) -> dict:
    """The report for predictions already decoded (pure NumPy, testable by hand); `alike` adds `alike_scores`."""
    labels = np.asarray(labels)
    truth = charset.decode_batch(labels)
    whole = np.array([t == p for t, p in zip(truth, texts)])
    pos_hits = pred == labels
    lengths = (labels != charset.pad_index).sum(axis=1)
    alphabet = charset.alphabet
    confusions = Counter(
        (alphabet[t], alphabet[p]) for t, p in zip(labels[~pos_hits], pred[~pos_hits])
    )
    per_length = {}
    for n in sorted(set(lengths.tolist())):
        sel = lengths == n
        per_length[str(n)] = {"count": int(sel.sum()), "captcha_acc": float(whole[sel].mean()),
                              "char_acc": float(pos_hits[sel].mean())}
    order = np.argsort(-confidence, kind="stable")
    coverage = []
    for c in COVERAGES:
        keep = max(1, int(round(c * len(order))))
        coverage.append({"coverage": c, "captcha_acc": float(whole[order[:keep]].mean()),
                         "min_confidence": float(confidence[order[keep - 1]])})
    thresholds = {}
    running = np.cumsum(whole[order]) / np.arange(1, len(order) + 1)
    for target in TARGETS:
        ok = np.nonzero(running >= target)[0]
        if len(ok):
            k = ok[-1]
            thresholds[str(target)] = {"min_confidence": float(confidence[order[k]]), "coverage": float((k + 1) / len(order))}
        else:
            thresholds[str(target)] = None
    return {
        "count": int(len(labels)),
        "captcha_acc": float(whole.mean()),
        "char_acc": float(pos_hits.mean()),
        "per_position": [float(x) for x in pos_hits.mean(axis=0)],
        "per_length": per_length,
        "confusions": [{"true": t, "pred": p, "count": n} for (t, p), n in confusions.most_common(top_confusions)],
        "coverage": coverage,
        "confidence_for_accuracy": thresholds,
        **({"alike": alike_scores(truth, texts, alike)} if alike else {}),
    }


def alike_scores(truth: list[str], texts: list[str], groups: Sequence[str]) -> dict:
    """Whole-captcha scores when each group's characters look the same (e.g. ["lI", "0O"]).

    Returns:
        {"groups", "captcha_acc": exact reads with each group's characters counted as one,
        "ceiling": the expected accuracy of a reader that reads everything else right and, for a
        character of a group, names the group's most frequent member among the labels (a captcha
        with an l and an I of equally frequent l and I is read right one time in four),
        "told_apart": of the group's characters read as a member of their group (in reads of the
        right length), the share read as the right member (None without any): near the most
        frequent member's share, the reader cannot tell them apart either}.
    """
    one = {c: g[0] for g in groups for c in g}
    counts = Counter(c for t in truth for c in t if c in one)
    best = {g[0]: max(counts[c] for c in g) / max(1, sum(counts[c] for c in g)) for g in groups}
    table = str.maketrans(one)
    merged = [t.translate(table) == p.translate(table) for t, p in zip(truth, texts)]
    chance = [float(np.prod([best[one[c]] for c in t if c in one])) for t in truth]
    in_group = [a == b for t, p in zip(truth, texts) if len(t) == len(p)
                for a, b in zip(t, p) if a in one and one[a] == one.get(b)]
    return {"groups": list(groups), "captcha_acc": float(np.mean(merged)), "ceiling": float(np.mean(chance)),
            "told_apart": float(np.mean(in_group)) if in_group else None}


def format_report(report: dict, title: str = "") -> str:
    """A plain-text table of a report."""
    lines = [title] if title else []
    lines += [
        f"  whole-captcha accuracy  {report['captcha_acc']:7.2%}   ({round(report['captcha_acc'] * report['count'])}/{report['count']} captchas read exactly)",
        f"  per-character accuracy  {report['char_acc']:7.2%}   (positions right, of {len(report['per_position'])} per captcha)",
        "  per position            " + "  ".join(f"{i + 1}: {a:.2%}" for i, a in enumerate(report["per_position"])),
    ]
    if len(report["per_length"]) > 1:
        lines.append("  per length              " + "  ".join(
            f"{n}: {v['captcha_acc']:.2%} (n={v['count']})" for n, v in report["per_length"].items()))
    if report["confusions"]:
        lines.append("  top confusions (true→predicted: count)  " + ", ".join(
            f"{c['true']}→{c['pred']}: {c['count']}" for c in report["confusions"][:10]))
    if "alike" in report:
        a = report["alike"]
        told = "" if a["told_apart"] is None else f"; told apart {a['told_apart']:.0%} of the time"
        lines.append(f"  drawn alike {'/'.join(a['groups']):10s} whole {a['captcha_acc']:.2%} with each group read as one "
                     f"character; a reader that cannot tell them apart can expect at most {a['ceiling']:.2%}{told}")
    lines.append("  accuracy vs coverage    " + "  ".join(
        f"{c['coverage']:.0%}: {c['captcha_acc']:.2%}" for c in report["coverage"]))
    lines.append("  confidence for accuracy " + "  ".join(
        f"{float(t):.0%}: " + (f">= {v['min_confidence']:.3f} (keeps {v['coverage']:.0%})" if v else "not reached")
        for t, v in report["confidence_for_accuracy"].items()))
    return "\n".join(lines)
