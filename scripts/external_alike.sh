#!/usr/bin/env bash
# How much of the kept-aside styles' remaining error is l against I. gvcode draws in Arial and svg-captcha in
# Comismsh; in both fonts l and I are one upright stroke of one height (python scripts/glyphs_alike.py FONT
# SIZE: Arial at gvcode's 50 px, l 5 px wide and I 4; Comismsh at svg-captcha's 56 px, a pixel or two apart at
# the top, under svg-captcha's jitter and noise lines). claptcha's FreeMono draws them apart; trek-captcha draws
# only lower case. `evaluate --alike lI` scores each finished kept-aside run (rounds 2 to 4, 100 and 500
# labels) on its own 1,000 test captchas with l and I read as one character, how often the model tells them
# apart, and the most a reader that cannot can expect (an expectation: a test set can beat it by luck).
# Needs the runs' model.keras files (not committed): bash scripts/external_aside_2.sh and external_aside_3.sh
# (and _4.sh) 100 500 write them; a run without one is skipped, and one scored since its model was written.
#   bash scripts/external_alike.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=reports/external-alike
mkdir -p $out
for style in gvcode svg-captcha; do
    for n in 100 500; do
        for round in 2 3 4; do
            run=reports/external-aside-2/$style-500/runs/finetune-$n
            [ $round = 2 ] || run=reports/external-aside-$round/$style/runs/pseudo-$n
            json=$out/$style-$n-round$round.json
            [ -f $run/model.keras ] || continue
            [ $json -nt $run/model.keras ] && continue  # scored since the model was written
            python -m captcha_ocr.evaluate --model $run --alike lI --json $json | grep -E "whole-captcha|drawn alike"
        done
    done
done
python - "$out" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
rows = ["| style | labels | round | whole-captcha | with l and I one character | l and I told apart | most a reader "
        "that cannot tell l from I can expect |", "| --- | --- | --- | --- | --- | --- | --- |"]
for style in ("gvcode", "svg-captcha"):
    for n in (100, 500):
        for rnd, what in ((2, "2: labels only"), (3, "3: + unlabeled"), (4, "4: + unlabeled, 36 epochs")):
            f = out / f"{style}-{n}-round{rnd}.json"
            if f.exists():
                r = json.loads(f.read_text())
                a = r["alike"]
                rows.append(f"| {style} | {n} | {what} | {r['captcha_acc']:.1%} | {a['captcha_acc']:.1%} "
                            f"| {a['told_apart']:.0%} | {a['ceiling']:.1%} |")
(out / "report.md").write_text(
    "# Kept-aside styles whose font draws l and I alike\n\n`bash scripts/external_alike.sh` (its header names the "
    "fonts and how they were compared). Each run's own 1,000 test captchas.\n\n" + "\n".join(rows) + "\n")
PY
