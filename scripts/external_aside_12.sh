#!/usr/bin/env bash
# Kept-aside external styles, round 12: round 8 (scripts/external_aside_8.sh: a student of 13,500 unlabeled
# captchas and 48 epochs, chosen on the training side as RELTU48) with the dropout finetune_external ships since
# 2026-12-07 (0.1 after each convolution block, chosen on the training side: RELD, RELDS1, RELDS2), taught by
# round 10's teachers (three seeds with that dropout, read as one: reports/external-aside-10/STYLE/ensemble, made
# by scripts/external_aside_10.sh, not committed: over 20 MB a style). The same labels and test sets as rounds 5
# to 10; then read in one view and in 9. Reported here, not tuned: nothing in it was chosen on these styles.
# Round 10's students read gvcode 60.7% and claptcha 81.9% with 3,500 unlabeled captchas and 36 epochs.
#   bash scripts/external_aside_12.sh [STYLE ...]     (default: gvcode claptcha)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- gvcode claptcha
TEACHERS=reports/external-aside-10 OUT=reports/external-aside-12 EXTRA="--set model.dropout=0.1" \
    exec bash scripts/external_aside_8.sh "$@"
