#!/usr/bin/env bash
# The architecture comparison committed under reports/architecture (README, "Comparing losses, activations
# and architectures"; docs/measurements.md, "Architecture"). Every variant in configs/architecture/ trains
# at an equal wall-clock budget: as many epochs as fit in BUDGET minutes at its own measured pace
# (compare --budget-min), at the quickstart's input size and schedule, in mixed bfloat16. One seed each.
#   bash scripts/run_architecture.sh          # about an hour on 2 cores (8 variants x (timing run + 5 min + test))
#   BUDGET=10 OUT=reports/architecture-10min bash scripts/run_architecture.sh
set -euo pipefail
budget=${BUDGET:-5}
out=${OUT:-reports/architecture}
python -m captcha_ocr.compare --configs configs/architecture/*.yaml --seeds 1 --budget-min "$budget" \
    --set image.width=128 --set image.height=48 --set data.test_size=2000 --set model.bn_momentum=0.9 \
    --set train.steps_per_epoch=156 --set train.schedule=onecycle --set train.learning_rate=0.002 \
    --set train.precision=mixed_bfloat16 --out "$out"
