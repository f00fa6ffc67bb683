"""Evaluate a model: `python -m captcha_ocr.evaluate --model RUN_DIR_OR_MODEL [--data FOLDER]`.

Prints whole-captcha and per-character accuracy, per position and per length,
the top confusions and accuracy against coverage (`captcha_ocr.model.scoring`),
and writes them as JSON.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Sequence

from captcha_ocr.core.atomic import write_text_atomic
from captcha_ocr.core.cli import int_at_least, output_dir, parser, run_cli
from captcha_ocr.core.errors import UserError
from captcha_ocr.model.scoring import evaluate_arrays, format_report


def build_parser():
    p = parser("python -m captcha_ocr.evaluate", __doc__)
    p.add_argument("--model", required=True, help="a run directory, a .keras model file or a shipped model (base)")
    p.add_argument("--data", help="a labeled folder (default: the run's own test set)")
    p.add_argument("--json", help="where to write the JSON report (default: in the run directory; for a shipped "
                   "model, the current directory)")
    p.add_argument("--batch-size", type=int_at_least(1), default=128)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from captcha_ocr.model.layers import model_spec
    from captcha_ocr.training.rundir import load_run, shipped_name

    model, run_dir, config = load_run(args.model)
    spec = model_spec(model)
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
    report = evaluate_arrays(model, images, labels, args.batch_size)
    print(format_report(report, title=f"{args.model} on {what}"))
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
