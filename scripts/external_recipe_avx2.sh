#!/usr/bin/env bash
# finetune_external as shipped (36 epochs fitted to its 12-minute budget) on 500 labels of trek-captcha (kept
# aside), on this CPU as it is and capped to AVX2 (ONEDNN_MAX_CPU_ISA=AVX2: float32 where `auto` finds no native
# bfloat16), one after the other. Same folder, test set and labels as scripts/external_aside_2.sh.
# reports/external-recipe-avx2/ holds the same for the recipe before (24 epochs, an 8-minute budget).
# Run 2026-12-06, before finetune_external dropped out 0.1 (2026-12-07): model.dropout=0 keeps the command measured.
#   bash scripts/external_recipe_avx2.sh
set -euo pipefail
cd "$(dirname "$0")/.."
args=(--data data/zoo-aside/trek-captcha --labels 500 --test 1000 --methods finetune --config finetune_external
      --init-from base_ctc2 --set model.dropout=0)
python -m captcha_ocr.learning_curve "${args[@]}" --out reports/external-recipe-avx2-36ep/native
ONEDNN_MAX_CPU_ISA=AVX2 python -m captcha_ocr.learning_curve "${args[@]}" --out reports/external-recipe-avx2-36ep/avx2
