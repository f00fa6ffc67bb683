#!/usr/bin/env bash
# Kept-aside external styles, round 8: round 6's students (scripts/external_aside_5.sh --student: a fine-tune
# taught by the three seeds read as one) with 13,500 unlabeled captchas instead of 3,500 and 48 epochs instead of
# 36, chosen on the training side before these runs (scripts/external_recipe_2.sh, RELTU48); reported here, not
# tuned. The same labels, test sets and teachers as round 6; data/zoo-aside15k holds data/zoo-aside5k's 5,000
# captchas (the same generator and seed) and 10,000 more, and learning_curve --unlabeled leaves out every image
# of the labeled folder. Each student is then read in one view and in 9 (round 7). Needs round 5's ensembles
# (reports/external-aside-5/STYLE/ensemble/model.keras; TEACHERS=FOLDER takes FOLDER/STYLE/ensemble/model.keras,
# made by OUT=FOLDER bash scripts/external_aside_5.sh STYLE).
# Styles in this order: furthest from the 95% goal first.
#   [TEACHERS=FOLDER] bash scripts/external_aside_8.sh [STYLE ...]     (default: all four)
# OUT (default reports/external-aside-8) and EXTRA (more arguments for learning_curve) make another round
# (scripts/external_aside_12.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- gvcode claptcha svg-captcha trek-captcha
out=${OUT:-reports/external-aside-8}
flags=(--set image.channels=3 --set train.epochs=48 --set train.learning_rate=0.001 --set train.keep=last
       --set train.early_stopping_patience=0 --budget-min 60 --set data.pseudo_share=auto)  # 60: all 48 epochs anywhere
for style in "$@"; do
    teacher=${TEACHERS:-reports/external-aside-5}/$style/ensemble/model.keras
    [ -f $teacher ] || { echo "$teacher not found: run scripts/external_aside_5.sh $style first" >&2; exit 2; }
    [ -d data/zoo-aside15k/$style ] || python -m captcha_ocr.zoo --out data/zoo-aside15k --count 15000 --seed 1000 --styles $style
    python -m captcha_ocr.learning_curve --data data/zoo-aside/$style --labels 500 --test 1000 --methods pseudo \
        --unlabeled data/zoo-aside15k/$style --init-from base_ctc2 "${flags[@]}" \
        --set data.pseudo_teacher=$teacher --set data.pseudo_rounds=0 ${EXTRA:-} --out $out/$style
    for views in 1 9; do
        python -m captcha_ocr.evaluate --model $out/$style/runs/pseudo-500 --data $out/$style/data/test --views $views \
            --json $out/$style/evaluation-views$views.json
    done
done
