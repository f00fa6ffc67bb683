#!/usr/bin/env bash
# The fine-tuning recipe (configs/finetune_ctc.yaml: 8 minutes of training with its epochs fitted to
# them) on an AVX2-only CPU, or on a newer one capped to AVX2: 500 labels of each of the six styles of
# scripts/foreign_styles.py, on the test sets of reports/few-labels-ctc2/ (same folders, same seed).
# Run from the repository root, one training at a time so the times are the CPU's; records go to
# reports/finetune-avx2/ (about 8 minutes per style). Set CAP= (empty) to run on the CPU as it is.
#   bash scripts/finetune_avx2.sh
set -euo pipefail
CAP=${CAP-AVX2}
OUT=${OUT:-reports/finetune-avx2}
[ -f data/styles/hatch/labels.csv ] || python scripts/foreign_styles.py --style all --out data/styles --count 3000 --seed 1
mkdir -p "$OUT"
for style in hatch wave stamp ledger grid dots; do
    start=$(date +%s)
    env ${CAP:+ONEDNN_MAX_CPU_ISA=$CAP} python -m captcha_ocr.learning_curve --data "data/styles/$style" \
        --labels 500 --test 1000 --methods finetune --out "$OUT/$style" > /dev/null \
        || echo "warning: the run of $style failed" >&2
    echo "$style: $(( $(date +%s) - start )) s, start to finish" | tee -a "$OUT/times.txt"
done
python scripts/few_labels_table.py "$OUT" | tee "$OUT/table.md"
