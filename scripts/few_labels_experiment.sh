#!/usr/bin/env bash
# Few labels: the shipped base model on six captcha styles it never saw (scripts/foreign_styles.py),
# zero-shot and fine-tuned from 100 and 500 labels, with a from-scratch contrast on one style.
# Methods were chosen on ledger, stamp and wave; grid, dots and hatch are measured last and
# reported apart. Each style: 3,000 captchas (seed 1), 1,000 held out as its test set.
#   bash scripts/few_labels_experiment.sh          # BUDGET=2 minutes per training: ~40 min on 2 cores
# (train.epochs=40 is the schedule configs/finetune.yaml had then; scripts/few_labels_recipe.sh measures
# the 12-epoch one it has now)
set -euo pipefail
budget=${BUDGET:-2}
out=${OUT:-reports/few-labels}
# The same seed always draws the same files, so folders already drawn are kept.
[ -f data/styles/hatch/labels.csv ] || python scripts/foreign_styles.py --style all --out data/styles --count 3000 --seed 1
curve() {  # style, methods...
    local style=$1; shift
    python -m captcha_ocr.learning_curve --data "data/styles/$style" --labels 100 500 --test 1000 \
        --init-from base --config configs/finetune.yaml --budget-min "$budget" --methods "$@" --out "$out/$style" --set train.epochs=40 \
        || echo "warning: some runs of $style failed; see $out/$style/runs" >&2  # the other styles still run
}
curve ledger zero_shot finetune scratch
curve wave zero_shot finetune
curve stamp zero_shot finetune
# Kept aside until the methods above were fixed:
curve grid zero_shot finetune
curve dots zero_shot finetune
curve hatch zero_shot finetune
python scripts/few_labels_table.py "$out" | tee "$out/table.md"
