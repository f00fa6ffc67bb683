#!/usr/bin/env bash
# The two comparisons committed under reports/ (README, "Comparing losses, activations and architectures").
# Each variant trains the quickstart recipe, shortened (--set below), on identical data per seed.
#   bash scripts/run_comparisons.sh        # about 70 minutes on 2 cores
set -euo pipefail
budget=(--set image.width=128 --set image.height=48 --set data.train_size=60000 --set data.test_size=2000
        --set model.bn_momentum=0.9 --set train.steps_per_epoch=156 --set train.schedule=onecycle
        --set train.learning_rate=0.003)
python -m captcha_ocr.compare --configs configs/sigmoid.yaml configs/softmax.yaml configs/sparse_softmax.yaml \
    configs/ctc.yaml \
    --seeds 2 "${budget[@]}" --set train.epochs=8 --out reports/losses
python -m captcha_ocr.compare --configs configs/activations/*.yaml \
    --seeds 1 "${budget[@]}" --set train.epochs=5 --out reports/activations
