#!/usr/bin/env bash
# Kept-aside external styles, round 11: round 9 (scripts/external_aside_9.sh: the recipe as shipped since
# 2026-12-07, dropout 0.1, self-training, 36 epochs, a 60-minute budget) from 100 labels instead of 500, beside the
# folder's other 3,900 captchas without labels: round 4's 100-label point (the same folders, test sets, labels and
# unlabeled captchas, learning_curve's split) with the dropout chosen on the training side since. Reported here,
# not tuned: nothing in it was chosen on these styles. Measured as two commands side by side, `... gvcode svg-captcha`
# and `... claptcha trek-captcha`, each running its styles one after the other.
#   bash scripts/external_aside_11.sh [STYLE ...]     (default: all four, one after the other)
set -euo pipefail
cd "$(dirname "$0")/.."
LABELS=100 OUT=reports/external-aside-11 exec bash scripts/external_aside_9.sh "$@"
