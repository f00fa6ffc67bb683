#!/usr/bin/env bash
# Kept-aside external styles, round 3: round 2 (scripts/external_aside_2.sh) plus self-training with
# data.pseudo_share=auto, chosen on training-side styles only before these runs (scripts/external_recipe_2.sh,
# variant RA). Same folders, test sets and labels as rounds 1 and 2 (data/zoo-aside, --seed 0); the unlabeled
# captchas are the folder's others plus 3,000 more of the same generator and seed (data/zoo-aside5k holds the
# same first 2,000 images; learning_curve leaves out any whose bytes are in data/zoo-aside), 3,500 in all at
# 500 labels, as on the training side.
#   bash scripts/external_aside_3.sh [LABELS ...]     (default: 500)
# EPOCHS (default 24) and OUT (default reports/external-aside-3) set another round's epochs and folder
# (scripts/external_aside_4.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- 500
styles=claptcha,gvcode,svg-captcha,trek-captcha
[ -d data/zoo-aside ] || python -m captcha_ocr.zoo --out data/zoo-aside --count 2000 --seed 1000 --styles $styles
[ -d data/zoo-aside5k ] || python -m captcha_ocr.zoo --out data/zoo-aside5k --count 5000 --seed 1000 --styles $styles
flags=(--set image.channels=3 --set train.epochs=${EPOCHS:-24} --set train.learning_rate=0.001 --set train.keep=last
       --set train.early_stopping_patience=0 --budget-min 30 --set data.pseudo_share=auto)
for style in ${styles//,/ }; do
    python -m captcha_ocr.learning_curve --data data/zoo-aside/$style --labels "$@" --test 1000 \
        --methods pseudo --unlabeled data/zoo-aside5k/$style --init-from base_ctc2 "${flags[@]}" \
        --out ${OUT:-reports/external-aside-3}/$style
done
