"""How often a model's confident reads of a learning_curve's unlabeled captchas are right, by threshold.

    python scripts/pseudo_precision.py RUN UNLABELED_CSV TRUTH_CSV [THRESHOLD ...] [--held]

RUN is a finished run; UNLABELED_CSV a learning_curve's `data/unlabeled-N/labels.csv` (absolute paths,
labels blanked); TRUTH_CSV the zoo folder's labels.csv that still holds their labels (paths relative to it).
Prints, per confidence threshold, the reads kept, the share of them that are right, and the most frequent
character swaps among the wrong ones: what self-training at that `data.pseudo_min_confidence` would learn.
Kept are the reads self-training keeps (`captcha_ocr.training.self_training.well_formed`: a length the charset
allows); before 2026-12-05 it also counted reads of other lengths, which self-training drops. Reads are greedy,
as self-training reads by default; `--held` holds them to the charset's lengths, as `data.pseudo_held` does.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from captcha_ocr.data.folder import load_items, read_labels_csv
from captcha_ocr.model.layers import model_spec
from captcha_ocr.model.scoring import read_arrays
from captcha_ocr.training.rundir import load_run
from captcha_ocr.training.self_training import well_formed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("unlabeled_csv")
    p.add_argument("truth_csv")
    p.add_argument("thresholds", nargs="*", type=float, default=[0.9, 0.97, 0.99])
    p.add_argument("--held", action="store_true", help="hold reads to the charset's lengths (data.pseudo_held)")
    args = p.parse_args()
    run, unlabeled, truth_csv = args.run, args.unlabeled_csv, args.truth_csv
    root = Path(truth_csv).resolve().parent
    truth = {str((root / f).resolve()): label for f, label in read_labels_csv(truth_csv)}
    files = [str(Path(f).resolve()) for f, _ in read_labels_csv(unlabeled)]
    missing = [f for f in files if f not in truth]
    if missing:
        p.error(f"{len(missing)} of {len(files)} images (e.g. {missing[0]}) are not in {truth_csv}; give the zoo "
                "folder's labels.csv that lists them")
    model, _, _ = load_run(run)
    spec = model_spec(model)
    data = load_items([(f, truth[f]) for f in files], spec.charset, spec.input_shape, workers=1, resize=spec.resize)
    texts, confidence, classes = read_arrays(model, data.images, held=args.held)  # as self-training reads
    usable = well_formed(texts, classes, spec.charset)
    labels = spec.charset.decode_batch(data.labels)
    right = np.array([t == p for t, p in zip(labels, texts)])
    for th in args.thresholds:
        kept = (confidence >= th) & usable
        swaps = Counter(f"{a}>{b}" for i in np.nonzero(kept & ~right)[0] if len(labels[i]) == len(texts[i])
                        for a, b in zip(labels[i], texts[i]) if a != b)
        print(f"{run}{' (held)' if args.held else ''} >= {th:g}: {kept.sum()} of {len(kept)} kept, "
              f"{right[kept].mean() if kept.any() else 0:.1%} right; "
              f"most frequent swaps {', '.join(f'{s} {n}' for s, n in swaps.most_common(5))}")


if __name__ == "__main__":
    main()
