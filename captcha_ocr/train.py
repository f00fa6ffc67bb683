"""Train a captcha model: `python -m captcha_ocr.train --config configs/X.yaml`.

A run writes its run directory (see `captcha_ocr.training.rundir` for its files).
Running the same command again after an interruption resumes from the last
finished epoch; a changed charset, image, model or loss is refused. With
`--teachers N` it trains N runs of the config with successive seeds first, and
then this run as their student (`captcha_ocr.training.teach`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from captcha_ocr.core.cli import add_config_args, config_from_args, int_at_least, parser, run_cli
from captcha_ocr.training import rundir
from captcha_ocr.training.fit import train
from captcha_ocr.training.teach import train_with_teachers


def build_parser():
    p = parser("python -m captcha_ocr.train", __doc__)
    add_config_args(p)
    p.add_argument("--run-dir", help="where to write the run (default: runs/<config name>)")
    p.add_argument("--restart", action="store_true", help="discard an existing run in the run directory")
    p.add_argument("--init-from", metavar="RUN", help="start from this run's (or .keras file's) weights: fine-tuning; "
                   "layers that no longer fit the config (e.g. a new charset) are re-initialized")
    p.add_argument("--teachers", type=int_at_least(2), metavar="N",
                   help="first train N runs of this config (train.seed, +1, ...) into RUN_DIR/teachers/, read "
                   "as one, then this run as their student: the N read data.unlabeled_folder once before its "
                   "first epoch and their confident reads train it to the last (README: 'their student')")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    run_dir = Path(args.run_dir) if args.run_dir else rundir.default_run_dir(args.config)
    if args.teachers is None:
        train(config, run_dir, restart=args.restart, init_from=args.init_from)
    else:
        train_with_teachers(config, run_dir, args.teachers, restart=args.restart, init_from=args.init_from)
    return 0


if __name__ == "__main__":
    run_cli(main)
