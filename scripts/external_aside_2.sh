#!/usr/bin/env bash
# Kept-aside external styles, 500 labels, with the round-2 choices of scripts/external_recipe_2.sh (made on
# training-side styles only, before these runs): fine-tuned from base_ctc2 (checkpoints/base_ctc2, which saw
# the training side of the zoo but no kept-aside generator) with the flags below: finetune_ctc turned into
# configs/finetune_external.yaml with all 24 epochs (the command measured; `--config finetune_external
# --budget-min 30` trains the same). Same folders, test sets and labels as reports/external-500 (--seed 0):
#   python -m captcha_ocr.zoo --out data/zoo-aside --count 2000 --seed 1000 --styles claptcha,gvcode,svg-captcha,trek-captcha
#   bash scripts/external_aside_2.sh [LABELS ...]     (default: 100 500)
# Every count goes into reports/external-aside-2/STYLE-500 (named for the count that ran first), where
# learning_curve reuses the finished runs and reports the labels needed for 90/95/99% over all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- 100 500
labels=("$@")
flags=(--set image.channels=3 --set train.epochs=24 --set train.learning_rate=0.001 --set train.keep=last
       --set train.early_stopping_patience=0 --budget-min 30)
for style in claptcha gvcode svg-captcha trek-captcha; do
    python -m captcha_ocr.learning_curve --data data/zoo-aside/$style --labels "${labels[@]}" --test 1000 \
        --methods finetune --init-from checkpoints/base_ctc2 "${flags[@]}" \
        --out reports/external-aside-2/$style-500
done
