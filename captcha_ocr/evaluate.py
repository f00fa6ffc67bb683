"""Evaluate a model: `python -m captcha_ocr.evaluate --model RUN_DIR_OR_MODEL [--data FOLDER]`.

Prints whole-captcha and per-character accuracy, per position and per length,
the top confusions and accuracy against coverage (`captcha_ocr.model.scoring`),
and writes them as JSON. `--alike lI` (repeatable) names characters the
captchas' font draws alike: the report adds the accuracy with them read as one
character and the most a reader that cannot tell them apart can expect.
`--errors FOLDER` also writes the misread captchas, with a sheet of the first
50 to look at, and with `--data` their original files and a sheet of those
(`captcha_ocr.studies.errors`).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from captcha_ocr.core.atomic import write_text_atomic
from captcha_ocr.core.cli import add_chars_arg, add_length_arg, add_views_arg, int_at_least, output_dir, parser, run_cli
from captcha_ocr.core.errors import UserError
from captcha_ocr.model.scoring import format_report, read_arrays, score


def build_parser():
    p = parser("python -m captcha_ocr.evaluate", __doc__)
    p.add_argument("--model", required=True, help="a run directory, a .keras model file or a shipped model (base)")
    p.add_argument("--data", help="a labeled folder (default: the run's own test set)")
    p.add_argument("--json", help="where to write the JSON report (default: in the run directory; for a shipped "
                   "model, the current directory)")
    p.add_argument("--batch-size", type=int_at_least(1), default=128)
    add_views_arg(p, "; the report's default name gains -viewsN")
    add_length_arg(p)
    add_chars_arg(p)
    p.add_argument("--errors", metavar="FOLDER", help="write the misread captchas there: a labeled folder with "
                   "what was read (readings.csv) and sheet.png, the first 50 captioned 'label -> read'; with --data "
                   "also their original files (originals/) and sheet-originals.png")
    p.add_argument("--alike", action="append", default=[], metavar="CHARS",
                   help="characters the captchas' font draws alike, e.g. lI (repeatable): also score them as one "
                   "character and give the most a reader that cannot tell them apart can expect")
    return p


def check_alike(groups: Sequence[str], alphabet: str) -> list[str]:
    """The `--alike` groups, checked: two or more characters each, all in the model's charset, no character twice."""
    seen: set[str] = set()
    for g in groups:
        outside, twice = sorted(set(g) - set(alphabet)), seen & set(g)
        why = (f"{''.join(outside)!r} is not in the model's charset" if outside else
               "a character is in two groups" if twice else
               "it needs two or more different characters" if len(set(g)) < 2 else None)
        if why:
            raise UserError(f"--alike {g!r}: {why}; give characters the font draws alike, e.g. --alike lI")
        seen |= set(g)
    return list(groups)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from captcha_ocr.model.ensemble import in_views
    from captcha_ocr.model.decode import check_chars
    from captcha_ocr.model.layers import hold_lengths, model_spec
    from captcha_ocr.training.rundir import load_run, shipped_name

    model, run_dir, config = load_run(args.model)
    spec = model_spec(model)  # labels are read with the model's own lengths, so none is left out by --length
    if args.length:
        hold_lengths(model, args.length)
    if args.chars is not None:
        check_chars(args.chars, spec.charset)  # before the model reads
    model = in_views(model, args.views)
    alike = check_alike(args.alike, spec.charset.chars)
    if args.data:
        from captcha_ocr.data.folder import load_folder

        data = load_folder(args.data, spec.charset, spec.input_shape, resize=spec.resize)
        if data.problems:
            print(f"warning: {data.report()}", file=sys.stderr)
        images, labels, what = data.images, data.labels, f"{args.data} ({len(data.paths)} captchas)"
        # The folder's name and a digest of its full path: two folders of one name keep two reports.
        folder = Path(args.data).resolve()
        default_json = f"evaluation-{folder.name}-{hashlib.sha1(str(folder).encode()).hexdigest()[:6]}.json"
    else:
        if config is None:
            raise UserError(f"{args.model} is a bare model file with no run config; give --data FOLDER to evaluate on")
        from captcha_ocr.data.pipeline import test_set

        images, labels = test_set(config)
        what = f"the run's test set ({len(labels)} captchas)"
        default_json = "evaluation.json"
    if args.views > 1:
        default_json = default_json.replace(".json", f"-views{args.views}.json")
    if args.length:
        default_json = default_json.replace(".json", "-length{}-{}.json".format(*args.length))
    if args.chars is not None:
        digest = hashlib.sha1("".join(sorted(set(args.chars))).encode()).hexdigest()[:6]  # one report per set
        default_json = default_json.replace(".json", f"-chars-{digest}.json")
    errors = output_dir(args.errors, "--errors") if args.errors else None  # checked before the model reads
    texts, confidence, pred = read_arrays(model, images, args.batch_size, chars=args.chars)
    pred = np.pad(pred, [(0, 0), (0, spec.max_length - pred.shape[1])], constant_values=spec.charset.pad_index)
    report = score(texts, confidence, pred, labels, spec.charset, alike=alike)
    print(format_report(report, title=f"{args.model} on {what}"))
    if errors is not None:
        from captcha_ocr.studies.errors import ORIGINALS_SHEET_PNG, SHEET_PNG, write_errors

        sources = data.paths if args.data else None  # the files a person judges from, beside the model's input
        count = write_errors(errors, images, spec.charset.decode_batch(labels), texts, confidence, sources=sources)
        look = ORIGINALS_SHEET_PNG if sources else SHEET_PNG
        print(f"{count} misread captchas written to {errors}" + (f" (look at {errors / look})" if count else ""))
    shipped = shipped_name(args.model)
    if args.json:
        out = Path(args.json)
    elif shipped:  # never into the installed package
        out = Path(f"{shipped}-{default_json}")
    else:
        out = (run_dir or Path(args.model).parent) / default_json
    output_dir(out.parent, "--json")
    try:
        write_text_atomic(out, json.dumps(report, indent=2))
    except OSError as err:
        raise UserError(f"cannot write --json {str(out)!r}: {err.strerror or err}; give a writable path") from None
    print(f"report written to {out}")
    return 0


if __name__ == "__main__":
    run_cli(main)
