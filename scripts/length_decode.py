"""What a ctc model would read if its reads had to have a length its charset allows (a measurement, not a mode).

    python scripts/length_decode.py RUN FOLDER [RUN FOLDER ...]

RUN is a finished ctc run (or its model.keras); FOLDER a labeled folder, or `test` for the run's own test set
(a synthetic one is drawn again from its config, into its `data.cache_dir`). Greedy decoding (what
predict, evaluate and the service do) takes each frame's best class, and so reads three characters where a
character was hidden: 76 of RELU48T's 418 misread kaptcha captchas, all 4 characters long, were read with 3
(2026-12-06). This script also takes, for each captcha whose greedy read has a length outside the charset's
[min_length, max_length], the most probable single frame path whose read has an allowed length (a Viterbi
search over frames, characters read so far and the last class), and prints both whole-captcha accuracies.
Where the greedy read's length is allowed the two agree: the greedy path is the most probable path of all.
The length is that of the greedy frame path's read: a longer one, which decoding cuts to max_length
characters, is searched again too.
"""

from __future__ import annotations

import argparse
from typing import Sequence

import numpy as np

from captcha_ocr.core.cli import run_cli
from captcha_ocr.core.images import scale_pixels
from captcha_ocr.data.folder import load_folder
from captcha_ocr.data.pipeline import test_set
from captcha_ocr.model.decode import decode, probabilities
from captcha_ocr.model.layers import model_spec
from captcha_ocr.training.rundir import load_run


def best_path_of_length(log_p: np.ndarray, low: int, high: int) -> list[int]:
    """The most probable frame path (a class per frame, blank = the last) whose read has low..high characters.

    Args:
        log_p: (frames, classes) log-probabilities of one captcha.
    """
    frames, classes = log_p.shape
    blank = classes - 1
    chars = np.arange(blank)
    score = np.full((high + 1, classes), -np.inf)  # score[k, s]: k characters read, the last frame's class s
    score[0, blank] = log_p[0, blank]
    if high:
        score[1, :blank] = log_p[0, :blank]
    back = np.zeros((frames, high + 1, classes, 2), dtype=np.int64)  # the (k, s) each state came from
    for t in range(1, frames):
        new = np.full_like(score, -np.inf)
        stay = score.argmax(axis=1)  # a blank keeps k, after any class
        new[:, blank] = score[np.arange(high + 1), stay] + log_p[t, blank]
        back[t, :, blank, 0], back[t, :, blank, 1] = np.arange(high + 1), stay
        for k in range(1, high + 1):
            repeat = score[k, :blank]  # the same character on one more frame
            before = score[k - 1]  # a new character after a blank or another character
            order = np.argsort(-before, kind="stable")
            other = np.where(chars == order[0], order[1], order[0])
            fresh = before[other]
            take_repeat = repeat >= fresh
            new[k, :blank] = np.where(take_repeat, repeat, fresh) + log_p[t, :blank]
            back[t, k, :blank, 0] = np.where(take_repeat, k, k - 1)
            back[t, k, :blank, 1] = np.where(take_repeat, chars, other)
        score = new
    k, s = max(((k, s) for k in range(low, high + 1) for s in range(classes)), key=lambda ks: score[ks])
    path = [s]
    for t in range(frames - 1, 0, -1):
        k, s = back[t, k, s]
        path.append(s)
    return path[::-1]


def collapse(path: list[int], blank: int) -> list[int]:
    """The characters a frame path reads: runs of one class merged, blanks dropped."""
    return [c for i, c in enumerate(path) if c != blank and (i == 0 or c != path[i - 1])]


def held_reads(logits: np.ndarray, charset) -> tuple[list[str], list[int]]:
    """The reads with their lengths held to the charset's, and the indices of the captchas whose greedy read
    (before decoding cuts it to max_length characters) had another length."""
    texts = decode(logits, charset, "ctc")[0]
    blank = logits.shape[-1] - 1
    outside = [i for i, path in enumerate(np.asarray(logits).argmax(axis=-1))
               if not charset.min_length <= len(collapse(list(path), blank)) <= charset.max_length]
    log_p = np.log(np.maximum(probabilities(logits, "ctc"), 1e-30))
    for i in outside:
        path = best_path_of_length(log_p[i], charset.min_length, charset.max_length)
        texts[i] = charset.decode(collapse(path, blank))
    return texts, outside


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
        texts, _, classes = decode(logits, cs, "ctc")
        truth = cs.decode_batch(labels)
        fixed, outside = held_reads(logits, cs)
        greedy = np.mean([a == b for a, b in zip(truth, texts)])
        held = np.mean([a == b for a, b in zip(truth, fixed)])
        print(f"{run} on {folder}: {len(texts)} captchas, lengths {cs.min_length}-{cs.max_length}; "
              f"{len(outside)} greedy reads of another length; per-character greedy {np.mean(classes == labels):.2%}; "
              f"whole-captcha greedy {greedy:.2%}, "
              f"lengths held {held:.2%} ({held - greedy:+.2%})")


if __name__ == "__main__":
    run_cli(main)  # a missing run or folder: one line, exit 2
