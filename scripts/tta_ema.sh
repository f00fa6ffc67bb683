#!/usr/bin/env bash
# The 30-minute benchmarks with the weights' moving average kept (train.ema=0.999), at 128 x 48 as measured before.
# Why: what the 36-character runs still misread is mostly 0/O, told apart 93-94% of the time; their final models
# moved between 97.95% and 98.45% from run to run. An exponential moving average of the weights over about the
# last 1,000 of the run's ~13,000 steps (training going on with the weights themselves) is the usual way to
# read from a flatter point than the last step's, and costs a copy of the weights per step.
# The rule, fixed before the run (2026-12-06): configs/benchmark_ctc.yaml gets train.ema=0.999 if the 36-character
# run's final model reads more than the best of the three 128 x 48 runs without it (98.45%, 2026-12-04; the others
# 97.95% and 98.00%); the goal (98.5%) counts as met only at >= 98.5%. One run; nothing else on the cores.
# If it is adopted, the 62-character benchmark (96.55% on 2026-12-03, goal 98%) is run with it too and reported.
# Result: 98.10% (56 epochs, 27.2 min), inside the three runs without it (97.95-98.45%): not adopted, the
# 62-character run not made.
#   bash scripts/tta_ema.sh      (a run whose summary.json exists is not run again)
set -euo pipefail
cd "$(dirname "$0")/.."
out=reports/tta-benchmark-ctc36-ema
[ -f $out/summary.json ] || python scripts/time_to_accuracy.py --config configs/benchmark_ctc.yaml \
    --budget-min 30 --target 0.985 --set charset.chars=0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ \
    --set train.ema=0.999 --out $out
