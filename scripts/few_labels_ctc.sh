#!/usr/bin/env bash
# Few labels with the CTC base model (captcha_ocr/pretrained/base_ctc) and configs/finetune_ctc.yaml:
# zero-shot, 100 and 500 labels per style. Run from the repository root; records go to
# reports/few-labels-ctc2/ (about 75 minutes on 2 cores, two styles at a time).
#   bash scripts/few_labels_ctc.sh
# (reports/few-labels-ctc/ holds the round before it: 500 labels only, --budget-min 30, and the
# best-model choice of then, which took the first of the epochs that read validation equally well.)
# Needs the style folders of scripts/few_labels_experiment.sh (drawn here if missing). To retrain the
# shipped base_ctc first (55 min here), see captcha_ocr/pretrained/base_ctc/README.md.
set -euo pipefail
[ -f data/styles/hatch/labels.csv ] || python scripts/foreign_styles.py --style all --out data/styles --count 3000 --seed 1
styles() {
    for style in "$@"; do
        python -m captcha_ocr.learning_curve --data "data/styles/$style" --labels 100 500 --test 1000 \
            --init-from base_ctc --config configs/finetune_ctc.yaml --methods zero_shot finetune --budget-min 15 \
            --out "reports/few-labels-ctc2/$style" || echo "warning: some runs of $style failed" >&2
    done
}
styles dots stamp wave > /dev/null &
styles hatch ledger grid > /dev/null
wait
python scripts/few_labels_table.py reports/few-labels-ctc2 | tee reports/few-labels-ctc2/table.md
