"""What holding ctc reads to the charset's lengths gains over greedy decoding, on a run and a labeled folder.

    python scripts/length_decode.py RUN FOLDER [RUN FOLDER ...]

RUN is a finished ctc run (or its model.keras); FOLDER a labeled folder, or `test` for the run's own test set
(a synthetic one is drawn again from its config, into its `data.cache_dir`). Greedy decoding takes each
frame's best class, and so reads three characters where a character was hidden: 76 of RELU48T's 418
misread kaptcha captchas, all 4 characters long, were read with 3 (2026-12-06). Since 2026-12-06 predict,
evaluate, the service and the exports hold such reads instead (`captcha_ocr.model.decode.ctc_decode`:
the most probable frame path of a length in [min_length, max_length]); this script prints both
whole-captcha accuracies, greedy's and the held reads' (which evaluate reports).
"""

from __future__ import annotations

import argparse
from typing import Sequence

import numpy as np

from captcha_ocr.core.cli import run_cli
from captcha_ocr.core.images import scale_pixels
from captcha_ocr.data.folder import load_folder
from captcha_ocr.data.pipeline import test_set
from captcha_ocr.model.decode import decode, to_hold
from captcha_ocr.model.layers import model_spec
from captcha_ocr.training.rundir import load_run


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("pairs", nargs="+", metavar="RUN FOLDER")
    args = p.parse_args(argv)
    if len(args.pairs) % 2:
        p.error("give RUN FOLDER pairs")
    for run, folder in zip(args.pairs[::2], args.pairs[1::2]):
        model, _, config = load_run(run)
        spec = model_spec(model)
        if spec.loss != "ctc":
            p.error(f"{run} is a {spec.loss} model; only ctc reads have a free length")
        cs = spec.charset
        if folder == "test":
            if config is None:
                p.error(f"{run} has no config.yaml to draw its test set from; give a run directory")
            images, labels = test_set(config)
        else:
            data = load_folder(folder, cs, spec.input_shape, workers=1, resize=spec.resize)
            images, labels = data.images, data.labels
        logits = model.predict(scale_pixels(images), batch_size=256, verbose=0)
        classes = decode(logits, cs, "ctc", held=False)[2]
        fixed, _, held_classes = decode(logits, cs, "ctc")
        truth = cs.decode_batch(labels)
        outside = int(to_hold(np.asarray(logits).argmax(axis=-1), cs.pad_index, cs.min_length, cs.max_length).sum())
        greedy = np.mean([a == b for a, b in zip(truth, cs.decode_batch(classes))])
        held = np.mean([a == b for a, b in zip(truth, fixed)])
        print(f"{run} on {folder}: {len(truth)} captchas, lengths {cs.min_length}-{cs.max_length}; "
              f"{outside} greedy reads of another length; per-character greedy {np.mean(classes == labels):.2%}, "
              f"held {np.mean(held_classes == labels):.2%}; whole-captcha greedy {greedy:.2%}, "
              f"lengths held {held:.2%} ({held - greedy:+.2%})")


if __name__ == "__main__":
    run_cli(main)  # a missing run or folder: one line, exit 2
