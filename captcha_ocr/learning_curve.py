"""How many labels do I need? `python -m captcha_ocr.learning_curve --data FOLDER --labels 100 500 --out reports/NAME`.

The library behind it: `captcha_ocr.studies.learning_curve`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

from captcha_ocr.core.cli import add_set_arg, float_above, int_at_least, parser, run_cli
from captcha_ocr.core.config import config_path, load_config
from captcha_ocr.core.errors import UserError
from captcha_ocr.studies.learning_curve import METHODS, VAL_SHARE, learning_curve, render_markdown


def build_parser():
    p = parser("python -m captcha_ocr.learning_curve", __doc__)
    p.add_argument("--data", required=True, help="a labeled folder of one captcha style")
    p.add_argument("--labels", type=int_at_least(2), nargs="+", required=True, metavar="N",
                   help="label counts to train with, e.g. 100 500")
    p.add_argument("--out", required=True, help="report folder, e.g. reports/my-style")
    p.add_argument("--test", type=int_at_least(1), default=1000, help="held-out test captchas (default 1000)")
    p.add_argument("--methods", nargs="+", default=["zero_shot", "finetune", "scratch"], choices=METHODS,
                   help="what to train at each count (default: zero_shot finetune scratch)")
    p.add_argument("--init-from", default="base_ctc",
                   help="the pretrained model (default: the shipped CTC base model, base_ctc)")
    p.add_argument("--config", default="finetune_ctc",
                   help="the training config: a file or a shipped recipe (default: %(default)s; finetune with --init-from base)")
    add_set_arg(p, " in every training")
    p.add_argument("--unlabeled", metavar="FOLDER",
                   help="more captchas of the style, labels unused, for --methods pseudo to self-train on as well")
    p.add_argument("--chars", help="the charset (default: the characters of the folder's labels)")
    p.add_argument("--budget-min", type=float_above(0),
                   help="minutes per training at most (default: the config's train.time_budget_min, else 15)")
    p.add_argument("--seed", type=int, default=0, help="shuffles the folder into test and label pool; train.seed")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    if args.budget_min is not None and not args.budget_min > 0:
        raise UserError(f"--budget-min must be a positive number of minutes, got {args.budget_min:g}")
    if args.unlabeled and "pseudo" not in args.methods:
        raise UserError("--unlabeled is what --methods pseudo self-trains on; add pseudo to --methods or drop --unlabeled")
    # A file or a shipped recipe, checked before minutes of work; its budget is the default.
    recipe = load_config(config_path(args.config), args.overrides)
    args.budget_min = args.budget_min or recipe.train.time_budget_min or 15.0
    args.val_share = 0.0 if recipe.train.keep == "last" else VAL_SHARE  # a run that keeps its last epoch needs none
    if not args.val_share and recipe.train.early_stopping_patience:
        raise UserError("train.keep: last trains on every label and validates on none, so nothing can stop it early; "
                        "add --set train.early_stopping_patience=0")
    args.labels = sorted(set(args.labels))
    summary = learning_curve(args)
    print()
    print(render_markdown(summary))
    print(f"report: {Path(args.out) / 'report.md'}")
    failed = [p for pts in summary["methods"].values() for p in pts if p["captcha_acc"] is None]
    return 1 if failed else 0


if __name__ == "__main__":
    run_cli(main)
