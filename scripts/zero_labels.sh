#!/usr/bin/env bash
# Zero labels, on a style the base model reads a little of (Z0, a study; written 2026-12-07 before its run):
# can a user with unlabeled captchas and no labels at all get past zero-shot? The base reads them told the lengths
# and characters (predict --length --chars), its reads at confidence >= 0.9 become the labels of a folder, and
# finetune_external (as shipped: from base_ctc2, colour, dropout 0.1, 48 epochs, self-training with pseudo_share
# auto) trains on them with every unlabeled captcha for its own two rounds of reads. Nothing here is new code:
# predict, a filter of its JSON lines, train, evaluate.
# The testbed is not kept aside: ImageCaptcha (this project's generator's package) at 280 x 90 with 4-6 characters
# of 62, which base_ctc3 never trained on and reads 22.5% of (reports/base-ctc4); its own test folder of 1,000
# (seed 1000) and 5,000 unlabeled captchas of another seed.
# The rule, fixed before its run (2026-12-07): the README offers this zero-label path, to be measured kept aside
# next, if Z0 reads at least twice what base_ctc3 reads of the same test folder told the same (the script measures
# both); otherwise it reports the path as tried and not offered (not offered: Z0 read 31.3% against base_ctc3's 23.7%;
# reports/zero-labels/README.md).
#   bash scripts/zero_labels.sh        (about 40 minutes on a 2-core Zen 4; writes data/z0 and runs/z0)
set -euo pipefail
cd "$(dirname "$0")/.."
out=reports/zero-labels
chars=0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz
look=(--set generator.width=280 --set generator.height=90 --set charset.min_length=4 --set charset.max_length=6)
[ -d data/z0/test ] || python -m captcha_ocr.generate --out data/z0/test --count 1000 --seed 1000 --split files "${look[@]}"
[ -d data/z0/unlabeled ] || python -m captcha_ocr.generate --out data/z0/unlabeled --count 5000 --seed 5000 --split files "${look[@]}"
mkdir -p $out
python -m captcha_ocr.evaluate --model base_ctc3 --data data/z0/test --length 4-6 --chars $chars --json $out/base_ctc3-told.json
python -m captcha_ocr.predict --model base_ctc3 --length 4-6 --chars $chars --json data/z0/unlabeled > $out/base_ctc3-reads.jsonl
# The reads at >= 0.9 as a labeled folder: each image linked under a new name (the generator's file names hold
# the true labels), labels.csv with the reads; and how many of them are right, from those file names.
python - "$out" <<'EOF'
import json, os, sys
from pathlib import Path
from captcha_ocr.data.folder import write_labels_csv
out = Path(sys.argv[1])
folder = Path("data/z0/reads")
folder.mkdir(parents=True, exist_ok=True)
kept, right = [], 0
for line in open(out / "base_ctc3-reads.jsonl"):
    read = json.loads(line)
    if read["confidence"] >= 0.9 and read["text"]:
        source = Path(read["path"])
        name = f"{len(kept):05d}{source.suffix}"
        if not (folder / name).exists():
            os.link(source, folder / name)
        kept.append((name, read["text"]))
        right += read["text"] == source.stem.split("_")[0]
write_labels_csv(folder / "labels.csv", kept)
summary = {"kept": len(kept), "right": right, "unlabeled": sum(1 for _ in open(out / "base_ctc3-reads.jsonl"))}
(out / "reads.json").write_text(json.dumps(summary) + "\n")
print(summary)
EOF
python -m captcha_ocr.train --config configs/finetune_external.yaml --init-from base_ctc2 --run-dir runs/z0 \
    --set data.folder=data/z0/reads --set data.unlabeled_folder=data/z0/unlabeled --set charset.chars=$chars \
    --set charset.min_length=4 --set charset.max_length=6 --set train.time_budget_min=60
python -m captcha_ocr.evaluate --model runs/z0 --data data/z0/test --json $out/z0.json
