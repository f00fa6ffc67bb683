#!/usr/bin/env bash
# Kept-aside external styles, round 4: round 3 (scripts/external_aside_3.sh: the same folders, test sets, labels
# and unlabeled captchas, self-training with data.pseudo_share=auto) with 36 epochs instead of 24, the change
# chosen on training-side styles only before these runs (scripts/external_recipe_2.sh, variant RE: +2.1 points
# on kaptcha, +5.5 on easy-captcha against RA).
#   bash scripts/external_aside_4.sh [LABELS ...]     (default: 500)
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=36 OUT=reports/external-aside-4 exec bash scripts/external_aside_3.sh "$@"
