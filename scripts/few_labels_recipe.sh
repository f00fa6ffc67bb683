#!/usr/bin/env bash
# Few labels, second round: what limits fine-tuning at 500 labels, and the recipe that configs/finetune.yaml
# now holds. Each step's records go to reports/; run from the repository root (about 2 hours on 2 cores).
#   bash scripts/few_labels_recipe.sh
# Needs the style folders of scripts/few_labels_experiment.sh (drawn here if missing).
set -euo pipefail
[ -f data/styles/hatch/labels.csv ] || python scripts/foreign_styles.py --style all --out data/styles --count 3000 --seed 1
curve() {  # out, style, then learning_curve options
    local out=$1 style=$2; shift 2
    python -m captcha_ocr.learning_curve --data "data/styles/$style" --labels 500 --test 1000 --init-from base \
        --config configs/finetune.yaml \
        --out "$out/$style" "$@" || echo "warning: some runs of $style failed; see $out/$style/runs" >&2
}
# 1. The 40-epoch schedule with 4x the budget (8 min): does time limit the 2-minute figures? With
#    self-training too (its rounds were due after epochs 13 and 27: the budget stopped every run before).
for style in stamp wave ledger; do
    curve reports/few-labels-8min "$style" --budget-min 8 --methods finetune pseudo --set train.epochs=40
done
# 2. A generator style fitted to stamp's 500 labeled captchas, half of each batch (8 min).
python -m captcha_ocr.fit_style --data reports/few-labels-8min/stamp/data/labels-500 --config configs/finetune.yaml \
    --set train.epochs=40 --out reports/few-labels-fitted/stamp-style.yaml
curve reports/few-labels-fitted stamp --budget-min 8 --methods finetune --config reports/few-labels-fitted/stamp-style.yaml \
    --set data.synthetic_ratio=0.5 --set data.train_size=20000
# 3. The recipe: 12 epochs (cosine to zero), chosen on stamp, ledger and wave; then the styles kept aside.
for style in stamp ledger wave; do
    curve reports/few-labels-12ep "$style" --budget-min 15 --methods finetune pseudo --set train.epochs=12
done
for style in grid dots hatch; do
    curve reports/few-labels-12ep "$style" --budget-min 15 --methods finetune --set train.epochs=12
done
# 4. 100 labels with the recipe (the 500-label runs above are reused; the report then holds finetune only).
for style in stamp ledger wave grid dots hatch; do
    python -m captcha_ocr.learning_curve --data "data/styles/$style" --labels 100 500 --test 1000 --init-from base \
        --config configs/finetune.yaml --out "reports/few-labels-12ep/$style" --budget-min 15 --methods finetune \
        --set train.epochs=12 || echo "warning: some runs of $style failed" >&2
done
python scripts/few_labels_table.py reports/few-labels-12ep | tee reports/few-labels-12ep/table.md
