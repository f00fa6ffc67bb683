#!/usr/bin/env bash
# Train (or resume) a base model for other people's captchas, on this machine or another, across days:
#   bash scripts/train_base.sh NAME           install the fonts, write the zoo's training side, train; run it again
#                                             after a stop and it resumes after the last finished epoch
#   bash scripts/train_base.sh NAME --save    copy the run's resume state into checkpoints/NAME/ (commit it)
# NAME is one of
#   base_ctc2  base_ctc continued on captcha_ocr/recipes/base_model_ctc2.yaml (12 epochs)
#   base_ctc3  base_ctc2 widened to twice the filters and GRU units (captcha_ocr/model/widen.py: it starts
#              reading what base_ctc2 reads) and trained 16 more epochs on the same recipe
#   base_ctc4  base_ctc3 trained 6 more epochs with the captcha package's own ImageCaptcha added to the folder half:
#              20,000 with its defaults (160x60, 4 characters) and 10,000 as its README draws them (280x90; 4-6
#              characters here), data/zoo-train-ic (the 12 training-side styles plus those two)
#   base_ctc2-lo-fonts  base_ctc2-lo with 449 more fonts in its broad half (22 more Debian packages, mostly display
#              fonts; scripts/extra_fonts.py keeps those that draw 0-9A-Za-z with a lower case unlike the upper):
#              does zero-shot reading of generators a base never saw (kaptcha, easy-captcha) gain from more fonts?
#   base_ctc2-lo-geom  base_ctc2-lo with every training captcha's width alone scaled within 1 +- 0.2 and slanted up
#              to 10 degrees (augment.stretch, augment.shear): does zero-shot reading of generators a base never saw
#              gain from glyphs narrower, wider and slanted? (reports/base-geom: no, dropped by its rule)
#   base_ctc2-lo, base_ctc3-lo  for measuring fine-tuning on generators a base never saw
#              (scripts/external_recipe_2.sh, W, REL, REW): base_ctc continued as base_ctc2 on the training side
#              without kaptcha and easy-captcha (data/zoo-train-lo), at base_ctc's width and at twice it
# A fresh checkout resumes from checkpoints/NAME/ when runs/NAME is not there yet.
# Needs the zoo's extras (docs/zoo.md) and root for apt-get (or the fonts installed already).
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:-}
# base_model_ctc2's font list plus data/fonts-extra, as one --set value
fonts_plus() {
    python - <<'PY'
import json

from captcha_ocr.core.config import load_config

print(json.dumps(list(load_config("base_model_ctc2").generator.fonts) + ["data/fonts-extra"]))
PY
}
# One labels.csv ("style/file,label") over the style folders of ROOT, in the order given: each style's labels from
# its labels.csv or, without one, from its file names (captcha_ocr.data.folder.list_folder).
merge_labels() {
    python - "$@" <<'PY'
import sys
from pathlib import Path

from captcha_ocr.data.folder import LABELS_CSV, list_folder, write_labels_csv

root, styles = Path(sys.argv[1]), sys.argv[2:]
rows = [(f"{style}/{Path(path).name}", label) for style in styles for path, label in list_folder(root / style)]
write_labels_csv(root / LABELS_CSV, rows)
print(f"{root / LABELS_CSV}: {len(rows)} captchas")
PY
}
wide=(--set 'model.filters=[64,128,256,256,256]' --set model.rnn_units=128)  # twice base_ctc's filters and GRU units
case "$name" in
    base_ctc2) init=base_ctc; settings=() ;;
    base_ctc3) init=base_ctc2; settings=("${wide[@]}" --set train.epochs=16) ;;
    base_ctc4) init=base_ctc3; settings=("${wide[@]}" --set data.folder=data/zoo-train-ic --set train.epochs=6) ;;
    base_ctc2-lo) init=base_ctc; settings=(--set data.folder=data/zoo-train-lo) ;;
    base_ctc2-lo-fonts) init=base_ctc; settings=(--set data.folder=data/zoo-train-lo --set "generator.fonts=$(fonts_plus)") ;;
    base_ctc2-lo-geom) init=base_ctc; settings=(--set data.folder=data/zoo-train-lo --set augment.stretch=0.2
                                                --set augment.shear=10) ;;
    base_ctc3-lo) init=base_ctc; settings=(--set data.folder=data/zoo-train-lo "${wide[@]}") ;;
    *) echo "error: give the base model to train: bash scripts/train_base.sh base_ctc2|base_ctc3|base_ctc4|base_ctc2-lo|base_ctc2-lo-fonts|base_ctc2-lo-geom|base_ctc3-lo [--save]" >&2
       exit 2 ;;
esac
run=runs/$name
keep=checkpoints/$name
if [ "${2:-}" = "--save" ]; then
    # A run under way keeps its resume backup (weights and optimizer state); a finished one its results.
    if [ -f "$run/metrics.json" ]; then
        files="config.yaml history.csv model.keras metrics.json evaluation.json"
    elif [ -f "$run/backup/state.json" ]; then
        files="config.yaml history.csv model.keras backup"
    else
        echo "error: $run has no finished epoch to save yet" >&2; exit 2
    fi
    rm -rf "$keep.tmp" && mkdir -p "$keep.tmp"
    for f in $files; do cp -r "$run/$f" "$keep.tmp/"; done
    rm -rf "$keep" && mv "$keep.tmp" "$keep"
    echo "saved $(($(wc -l < "$keep/history.csv") - 1)) epochs of $run to $keep ($files)"
    exit 0
fi
# The fonts of the broad half (Debian's packages; none that a kept-aside zoo generator draws with).
fonts="fonts-lato fonts-open-sans fonts-cantarell fonts-roboto fonts-crosextra-caladea fonts-linuxlibertine
       fonts-firacode fonts-inconsolata fonts-oxygen fonts-ebgaramond fonts-hack fonts-league-spartan
       fonts-comfortaa fonts-jura fonts-noto-core"
if ! dpkg -s $fonts >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $fonts >/dev/null
fi
# More fonts for base_ctc2-lo-fonts: none a kept-aside generator draws with, nor their clones (no FreeFont, URW,
# TeX Gyre, Liberation, Arimo, Carlito, Comic-like fonts).
extra="fonts-aenigma fonts-dustin fonts-sjfonts fonts-cabinsketch fonts-cherrybomb fonts-leckerli-one fonts-rampart
       fonts-rocknroll fonts-lobster fonts-kaushanscript fonts-dancingscript fonts-breip fonts-yanone-kaffeesatz
       fonts-adf-gillius fonts-adf-mekanus fonts-staypuft fonts-tuffy fonts-okolaks fonts-radisnoir fonts-engadget
       fonts-f500 fonts-eurofurence fonts-blankenburg"
if [ "$name" = base_ctc2-lo-fonts ]; then
    if ! dpkg -s $extra >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $extra >/dev/null
    fi
    folders=$(for p in $extra; do dpkg -L "$p" | grep -E '\.(ttf|otf)$' | xargs -n1 dirname; done | sort -u)
    python scripts/extra_fonts.py --out data/fonts-extra $folders
fi
# The training side of the external benchmark: 5,000 captchas of each of 12 styles, seed 0 (the kept-aside
# test folders use seed 1000, and none of their generators is here).
styles=easy-captcha,easy-captcha-simple,flask-simple-captcha,flask-simple-captcha-digits,kaptcha,kaptcha-emboss
styles=$styles,trdg,trdg-distorted,captchapng,captchapng-6,captcha-canvas,captcha-canvas-large
sorted_styles=$(printf '%s\n' ${styles//,/ } | LC_ALL=C sort)
if [ ! -f data/zoo-train/labels.csv ]; then
    python -m captcha_ocr.zoo --out data/zoo-train --count 5000 --seed 0 --styles "$styles"
    merge_labels data/zoo-train $sorted_styles
fi
# The training side without kaptcha's and easy-captcha's four styles: links to the other 8 of $styles.
if [ "${name#*-lo}" != "$name" ] && [ ! -f data/zoo-train-lo/labels.csv ]; then
    mkdir -p data/zoo-train-lo
    for s in ${styles//,/ }; do
        case $s in kaptcha*|easy-captcha*) ;; *) ln -sfn ../zoo-train/$s data/zoo-train-lo/$s ;; esac
    done
    (head -1 data/zoo-train/labels.csv; grep -v '^kaptcha\|^easy-captcha\|^file,' data/zoo-train/labels.csv) \
        > data/zoo-train-lo/labels.csv.tmp
    mv data/zoo-train-lo/labels.csv.tmp data/zoo-train-lo/labels.csv
fi
# The training side plus ImageCaptcha (the package this project's own generator draws with; none of the kept-aside
# generators uses it or its font, DroidSansMono): links to the 12 styles of $styles and two folders of ImageCaptcha,
# seed 0 (its held-out test folders use seed 1000 and another random stream).
if [ "$name" = base_ctc4 ] && [ ! -f data/zoo-train-ic/labels.csv ]; then
    mkdir -p data/zoo-train-ic
    for s in ${styles//,/ }; do ln -sfn ../zoo-train/$s data/zoo-train-ic/$s; done
    # seeded: a run stopped half way writes the same files again
    python -m captcha_ocr.generate --out data/zoo-train-ic/imagecaptcha --count 20000 --seed 0 --split train
    python -m captcha_ocr.generate --out data/zoo-train-ic/imagecaptcha-280x90 --count 10000 --seed 0 --split train \
        --set generator.width=280 --set generator.height=90 --set charset.min_length=4 --set charset.max_length=6
    merge_labels data/zoo-train-ic $sorted_styles imagecaptcha imagecaptcha-280x90  # generate names files <label>_<n>.png
fi
if [ ! -d "$run" ] && [ -f "$keep/history.csv" ]; then
    mkdir -p "$run" && cp -r "$keep"/* "$run/"
    echo "resuming from $keep"
fi
python -m captcha_ocr.train --config base_model_ctc2 --init-from "$init" --run-dir "$run" "${settings[@]}"
