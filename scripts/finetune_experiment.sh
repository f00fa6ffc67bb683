#!/usr/bin/env bash
# Fine-tuning vs training from scratch on ~3,000 captchas of another style (README, "Fine-tuning").
# 2,000 labeled captchas to train on (1,800 train + 200 validation), 1,000 held-out test captchas,
# the same config and the same 20-minute budget for both runs; the fine-tuned one starts from
# runs/quickstart_sigmoid, the sigmoid quickstart model it was measured with (train it first:
# python -m captcha_ocr.train --config configs/examples/quickstart_sigmoid.yaml).
#   bash scripts/finetune_experiment.sh            # about 45 minutes on 2 cores
set -euo pipefail
style=configs/examples/other_style.yaml
out=${OUT:-reports/finetune}
pretrained=${PRETRAINED:-runs/quickstart_sigmoid}
[ -f "$pretrained/model.keras" ] || { echo "error: $pretrained/model.keras not found; train it first: python -m captcha_ocr.train --config configs/examples/quickstart_sigmoid.yaml" >&2; exit 2; }
mkdir -p "$out"
python -m captcha_ocr.generate --config $style --out data/other/train --count 2000 --split train --seed 0
python -m captcha_ocr.generate --config $style --out data/other/test --count 1000 --split test --seed 0
common=(--config configs/examples/finetune_quickstart.yaml --set charset.chars=0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ
        --set charset.max_length=5 --set data.folder=data/other/train --set data.split=[0.9,0.1,0.0]
        --set data.test_folder=data/other/test)
python -m captcha_ocr.train "${common[@]}" --run-dir "$out/scratch" | tee "$out/scratch.log"
python -m captcha_ocr.train "${common[@]}" --run-dir "$out/finetuned" --init-from "$pretrained" | tee "$out/finetuned.log"
for run in scratch finetuned; do
  python -m captcha_ocr.evaluate --model "$out/$run" --data data/other/test --json "$out/$run-test.json"
done
