#!/usr/bin/env bash
# The package as users install it: a wheel (not an editable checkout) in a fresh venv, used from an empty
# folder. Builds the wheel, installs it, and runs the smoke train -> generate -> predict -> ensemble -> export ->
# evaluate with recipes named the ways the README names them. CI runs it (.ci/run); anyone can:
#   bash scripts/check_install.sh
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip wheel --quiet --no-deps --wheel-dir "$tmp/dist" "$repo"
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --quiet "$tmp"/dist/captcha_ocr-*.whl
mkdir "$tmp/work" && cd "$tmp/work"
py="$tmp/venv/bin/python"
# Not the checkout's code: the installed package.
"$py" -c "import captcha_ocr, sys; assert '$repo' not in captcha_ocr.__file__, captcha_ocr.__file__; print('installed at', captcha_ocr.__file__)"
"$py" -m captcha_ocr.train --config smoke --set train.epochs=1 --run-dir runs/smoke
"$py" -m captcha_ocr.generate --config configs/smoke.yaml --out images --count 4 --seed 3
"$py" -m captcha_ocr.predict --model runs/smoke images
"$py" -m captcha_ocr.ensemble --models runs/smoke runs/smoke --out smoke-twice.keras
"$py" -m captcha_ocr.predict --model smoke-twice.keras images
"$py" -m captcha_ocr.export --model runs/smoke --format savedmodel --check 4
"$py" -m captcha_ocr.evaluate --model base_ctc --data images --json base_ctc-eval.json
"$py" -m captcha_ocr.learning_curve --help > /dev/null
echo "install check passed: wheel, fresh venv, commands from an empty folder"
