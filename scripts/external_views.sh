#!/usr/bin/env bash
# Reading in views (python -m captcha_ocr.evaluate --views N: each captcha read as it is and moved by one pixel,
# the mean of the readings taken), on the fine-tunes that scripts/external_recipe_2.sh (training side, RELT0's
# students) and scripts/external_aside_5.sh --student (kept aside, round 6's students) left; no training.
# One pixel was chosen on the training side (scripts/view_shifts.py on RELT0's students: two and three pixels
# read less), before any kept-aside model was read in views. The model files are not committed: run those two
# scripts first.
#   bash scripts/external_views.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=reports/external-views
mkdir -p $out
for style in kaptcha easy-captcha; do
    run=reports/external-recipe-2/RELT0/$style
    python scripts/view_shifts.py $run/runs/pseudo-500 $run/data/test > $out/shifts-$style.txt
    for views in 1 5 9; do
        python -m captcha_ocr.evaluate --model $run/runs/pseudo-500 --data $run/data/test --views $views \
            --json $out/training-$style-views$views.json
    done
done
for style in trek-captcha claptcha gvcode svg-captcha; do
    run=reports/external-aside-5/$style/student
    for views in 1 5 9; do
        python -m captcha_ocr.evaluate --model $run/runs/pseudo-500 --data $run/data/test --views $views \
            --json $out/aside-$style-views$views.json
    done
done
# Zero-shot: the shipped base_ctc3 (the best zero-shot mean) in one view and in 9, on the kept-aside test folders
# of the README's zero-shot table (python -m captcha_ocr.zoo --out data/zoo-test --count 1000 --seed 1000 ...)
for style in claptcha claptcha-noise gvcode gvcode-dots svg-captcha svg-captcha-color trek-captcha trek-captcha-4; do
    for views in 1 9; do
        python -m captcha_ocr.evaluate --model base_ctc3 --data data/zoo-test/$style --views $views \
            --json $out/zero-shot-base_ctc3-$style-views$views.json
    done
done
