#!/usr/bin/env bash
# Kept-aside external styles, round 15: round 13 (scripts/external_aside_13.sh: the recipe as shipped until
# 2026-12-08, one model, 500 labels, 3,500 unlabeled, dropout 0.1, 48 epochs; the same folders, test sets, labels
# and unlabeled captchas) reading 48 frames instead of 24 (model.width_pools=2), the change chosen on
# training-side styles only before these runs (scripts/external_recipe_2.sh, RELDF against RELD48: kaptcha 62.7%
# against 60.2%, easy-captcha 95.1% against 92.7%). Reported here, not tuned. 48 frames compute more an epoch,
# so the budget is 90 minutes: all 48 epochs must run for a figure to count (metrics.json's epochs).
#   bash scripts/external_aside_15.sh [STYLE ...]     (default: all four, the furthest from 95% first)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- gvcode claptcha svg-captcha trek-captcha
OUT=reports/external-aside-15 EXTRA="--set train.epochs=48 --set model.width_pools=2 --budget-min 90" \
    exec bash scripts/external_aside_9.sh "$@"
