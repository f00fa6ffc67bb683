"""Join trained models into one that reads with the mean of their probabilities:
`python -m captcha_ocr.ensemble --models RUN_A RUN_B RUN_C --out runs/mine-3.keras`.
`--views 9` has each read the image in nine views (itself and its copies moved by one pixel), one model too:
`python -m captcha_ocr.ensemble --models RUN --views 9 --out runs/mine-9.keras`.

Writes one `.keras` file that every command takes as `--model` (`evaluate`,
`predict`, `serve`, `export`). The models must share charset, lengths, input
size and output shape: fine-tune them alike, e.g. with another
`--set train.seed=N` each. CTC models may differ in lengths (the first
model's are the ensemble's): `--models base_ctc base_ctc4` joins two shipped
bases. The library behind it: `captcha_ocr.model.ensemble`.
"""

from __future__ import annotations

from typing import Sequence

from captcha_ocr.core.cli import add_views_arg, logger, parser, run_cli, writable_file, write_output
from captcha_ocr.core.errors import UserError


def build_parser():
    p = parser("python -m captcha_ocr.ensemble", __doc__)
    p.add_argument("--models", nargs="+", required=True, metavar="MODEL",
                   help="run directories, .keras files or shipped models, trained alike (two or more, or one "
                   "with --views)")
    add_views_arg(p, "; every model reads in them")
    p.add_argument("--out", required=True, metavar="FILE.keras", help="the ensemble's model file to write")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.out.endswith(".keras"):
        raise UserError(f"--out {args.out!r}: a Keras model file must end in .keras, e.g. runs/mine-3.keras")
    if len(args.models) < 2 and args.views == 1:
        raise UserError(f"--models: an ensemble needs two or more models, got {len(args.models)}; or read one in "
                        "several views with --views 9")
    out = writable_file(args.out, "--out")
    from captcha_ocr.model.ensemble import ensemble_model
    from captcha_ocr.training.rundir import load_run

    model = ensemble_model([load_run(m)[0] for m in args.models], views=args.views)
    write_output(out, model.save, "--out")
    views = f", each in {args.views} views" if args.views > 1 else ""
    logger.info(f"wrote {out}: {len(args.models)} model{'s' * (len(args.models) > 1)} read as one{views} "
                f"({model.count_params():,} weights)")
    return 0


if __name__ == "__main__":
    run_cli(main)
