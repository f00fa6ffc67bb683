#!/usr/bin/env bash
# The 36-character 30-minute benchmark read at the captchas' own 160 x 60 instead of 128 x 48.
# Why: 32 of the 39 errors of its 2026-12-06 run are 0/O, which ImageCaptcha's font draws as ovals of nearly
# one shape; the model told them apart from differences of width 93% of the time
# (reports/tta-benchmark-ctc36-2026-12-06/errors-39.md). Downscaling to 128 x 48 takes a fifth of each width
# away. Reading all 160 x 60 pixels costs about 1.5x the work per image, so fewer images fit in the budget
# (on 2026-11-28, 45 epochs read 96.75% of the 62-character task and 64 epochs 96.55%: more images past
# ~700k did not read more).
# The rule, fixed before the run (2026-12-06): the 36-character command (docs/measurements.md) reads at 160 x 60
# if this run's final model reads more than the best of the three 128 x 48 runs (98.45%, 2026-12-04; the others
# 97.95% and 98.00%); the goal (98.5%) counts as met only at >= 98.5%. One run; nothing else on the cores.
# Result: 98.45%, equal to that best and not above it, so 128 x 48 stays. A second run of the same command
# (-2, added after the first) is reported beside it to show how far one run moves; nothing is chosen by it
# (it read 98.35%, 42 epochs).
#   bash scripts/tta_resolution.sh      (a run whose summary.json exists is not run again)
set -euo pipefail
cd "$(dirname "$0")/.."
for out in reports/tta-benchmark-ctc36-160x60 reports/tta-benchmark-ctc36-160x60-2; do
    [ -f $out/summary.json ] || python scripts/time_to_accuracy.py --config configs/benchmark_ctc.yaml \
        --budget-min 30 --target 0.985 --set charset.chars=0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ \
        --set image.width=160 --set image.height=60 --out $out
done
