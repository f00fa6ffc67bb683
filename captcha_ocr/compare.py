"""Compare configs over seeds: `python -m captcha_ocr.compare --configs A.yaml B.yaml --out reports/NAME`.

The library behind it: `captcha_ocr.studies.compare`.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Sequence

from captcha_ocr.core.cli import add_set_arg, float_above, int_at_least, parser, run_cli
from captcha_ocr.core.config import load_config
from captcha_ocr.core.errors import UserError
from captcha_ocr.core.tables import markdown_table
from captcha_ocr.studies.compare import (
    _overrides_key,
    budget_epochs,
    check_existing_runs,
    data_differences,
    run_comparison,
    variant_names,
    write_report,
)
from captcha_ocr.studies.report import table


def build_parser():
    p = parser("python -m captcha_ocr.compare", __doc__,
               epilog="Variant names: the config file's stem, or <folder>-<stem> when stems clash.")
    p.add_argument("--configs", nargs="+", default=[], metavar="YAML",
                   help="config files to compare (differences from configs/base.yaml)")
    p.add_argument("--seeds", type=int_at_least(1), default=3, help="train each config with train.seed = 0..N-1 (default: 3)")
    add_set_arg(p, " in every run")
    p.add_argument("--out", help="report folder, e.g. reports/losses (runs go to OUT/runs)")
    p.add_argument("--budget-min", type=float_above(0), metavar="M",
                   help="equal wall-clock budget: train each variant as many epochs as fit in M minutes, timed "
                        "by a 2-epoch run of it first (replaces train.epochs)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if not args.configs:
        raise UserError("no configs to compare; give --configs A.yaml B.yaml ... "
                        "(e.g. --configs configs/sigmoid.yaml configs/softmax.yaml)")
    if not args.out:
        raise UserError("no report folder; give --out, e.g. --out reports/losses")
    if _overrides_key(args.overrides, "train.seed"):
        raise UserError("--set train.seed: the seeds are set by --seeds (runs use train.seed = 0..N-1); remove it")
    for path in args.configs:
        if not Path(path).is_file():
            raise UserError(f"--configs: config file {path!r} not found")
    names = variant_names(args.configs)
    # Validate every config now rather than after hours of training the others.
    configs = [load_config(path, args.overrides) for path in args.configs]
    warnings = []
    differ = data_differences(configs)
    if differ:
        warnings.append(f"the configs differ in {', '.join(differ)}, so the variants do not train and test on "
                        "identical data")
        print(f"warning: {warnings[-1]}", file=sys.stderr)

    out = Path(args.out)
    budget, per_variant = None, {}
    if args.budget_min:
        if _overrides_key(args.overrides, "train.epochs"):
            raise UserError("--set train.epochs: --budget-min sets each variant's epochs; remove one of them")
        budget = {"minutes": args.budget_min, "variants": {}}
        for path, name in zip(args.configs, names):
            print(f"timing {name} (2 epochs, {out / 'probes' / name}): ", end="", flush=True)
            fit = budget_epochs(path, name, args.overrides, args.budget_min, out)
            budget["variants"][name] = fit
            per_variant[name] = [f"train.epochs={fit['epochs']}"]
            print(f"{fit['epoch_s']:.1f} s per epoch, {fit['epochs']} epochs in {args.budget_min:g} min", flush=True)
    check_existing_runs(out, args.configs, names, args.seeds, args.overrides, per_variant)
    print(f"{len(names)} configs x {args.seeds} seeds = {len(names) * args.seeds} runs in {out / 'runs'} "
          "(one log per run there)", flush=True)
    variants = run_comparison(args.configs, names, args.seeds, args.overrides, out, per_variant)
    summary = write_report(variants, out, command="python -m captcha_ocr.compare " + shlex.join(argv),
                           seeds=args.seeds, overrides=args.overrides, warnings=warnings, budget=budget)
    print()
    print(markdown_table(*table(summary["variants"])))
    print()
    if summary["plots"] is None:
        print("warning: matplotlib is not installed, so no plots (pip install matplotlib); "
              "the report has the tables", file=sys.stderr)
    written = ["report.md", "summary.json", *(summary["plots"] or [])]
    print(f"report: {', '.join(str(out / name) for name in written)}")
    failed = [r for v in variants for r in v.runs if not r.ok]
    if failed:
        print(f"{len(failed)} of {len(names) * args.seeds} runs failed; see their logs in {out / 'runs'}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    run_cli(main)
