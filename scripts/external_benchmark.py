"""Read labeled folders drawn by other people's code with our model and with ddddocr, side by side.

    python -m captcha_ocr.zoo --out data/zoo --count 1000 --seed 1000 --styles A,B,...   # the folders
    python scripts/external_benchmark.py --zoo data/zoo --styles A,B,... --model base_ctc \\
        --out reports/external-zero-shot

For each folder (`<zoo>/<style>/labels.csv`, as `captcha_ocr.zoo` writes them) it reads every image with
`--model` (a run, a `.keras` file, a shipped model or an export; through `captcha_ocr.inference.readers`)
and, when the `ddddocr` extra is installed (`pip install -e '.[ddddocr]'`), with ddddocr 1.6.1's default
and beta models. Whole-captcha accuracy is reported case-sensitive (the text equals the label) and
case-insensitive (equal after lower-casing both), and per character for our model (the share of the
label's characters read right at their place). Writes report.md and report.json (with the command and the
machine) to --out, and prints the table. With `--held` our model also reads each style told its lengths (from
its shortest label to its longest, as `predict --length`), with `--chars` told its lengths and the characters its
labels use (`predict --length --chars`; ddddocr told the characters too, from its frame probabilities).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from captcha_ocr.core.cli import output_dir, parser, run_cli
from captcha_ocr.core.errors import UserError
from captcha_ocr.core.machine import machine_info
from captcha_ocr.core.tables import markdown_table
from captcha_ocr.data.folder import list_folder


def char_accuracy(texts: Sequence[str], labels: Sequence[str]) -> float:
    """The share of the labels' characters read right at their place."""
    right = sum(sum(a == b for a, b in zip(text, label)) for text, label in zip(texts, labels))
    return right / max(1, sum(map(len, labels)))


def scores(texts: Sequence[str], labels: Sequence[str]) -> dict:
    """Whole-captcha accuracy, case-sensitive and not, and per-character accuracy."""
    n = max(1, len(labels))
    return {"count": len(labels),
            "whole": sum(t == lab for t, lab in zip(texts, labels)) / n,
            "whole_nocase": sum(t.lower() == lab.lower() for t, lab in zip(texts, labels)) / n,
            "char": char_accuracy(texts, labels)}


def read_ours(model: str, paths: Sequence[str], batch_size: int = 128, lengths: tuple[int, int] | None = None,
              chars: str | None = None) -> tuple[list[str], float]:
    """Our model's texts for `paths` (an unreadable file reads as ""; with `lengths`, a ctc model's reads held to
    them, as `predict --length` does; with `chars`, only those characters read, as `predict --chars`), and the
    seconds it took."""
    from captcha_ocr.inference.readers import load_reader

    reader = load_reader(model, lengths=lengths, chars=chars)
    start = time.perf_counter()
    texts = {}
    for path, pred in reader.read_files(paths, batch_size):
        if isinstance(pred, UserError):
            print(f"warning: {pred}", file=sys.stderr)
        texts[path] = "" if isinstance(pred, UserError) else pred.text
    return [texts[path] for path in paths], time.perf_counter() - start


def read_ddddocr(paths: Sequence[str], beta: bool, chars: str | None = None) -> tuple[list[str], float]:
    """ddddocr's texts for `paths` with its default (or beta) model, and the seconds it took; with `chars`, only
    those characters read (`ddddocr_told`)."""
    import ddddocr

    ocr = ddddocr.DdddOcr(show_ad=False, beta=beta)
    start = time.perf_counter()
    texts = []
    for path in paths:
        try:
            data = Path(path).read_bytes()
            texts.append(ddddocr_only(ocr.classification(data, probability=True), chars) if chars
                         else ocr.classification(data))
        except Exception as err:  # noqa: BLE001  (a third-party reader: any failure reads as nothing)
            print(f"warning: ddddocr on {path}: {err}", file=sys.stderr)
            texts.append("")
    return texts, time.perf_counter() - start


def ddddocr_only(result: dict, chars: str) -> str:
    """A ddddocr `classification(..., probability=True)` result read with only `chars` and its blank ("") in reach:
    each frame's most probable of those, repeats merged, blanks dropped, as `predict --chars` reads with ours.
    (ddddocr's own `set_ranges` drops other characters after reading each frame's best class, which only removes
    characters; this gives ddddocr what ours gets.)"""
    charset = result["charset"]
    probs = np.asarray(result["probabilities"], np.float32).reshape(-1, len(charset))  # (frames, classes)
    allowed = np.array([i for i, c in enumerate(charset) if c == "" or c in chars])
    best = allowed[probs[:, allowed].argmax(axis=1)]
    merged = [int(c) for i, c in enumerate(best) if i == 0 or c != best[i - 1]]
    return "".join(charset[c] for c in merged)


def benchmark(zoo: Path, styles: Sequence[str], model: str, limit: int = 0, ddddocr: bool = True,
              held: bool = False, chars: bool = False) -> dict:
    """Score every style's folder with `model` and, where installed and wanted, ddddocr; with `held`, also with
    `model` told each style's lengths (`ours_held`: the shortest to the longest of its labels), with `chars` told
    its lengths and characters too (`ours_chars`: those its labels use)."""
    readers = ["ours"] + (["ours_held"] if held else []) + (["ours_chars"] if chars else [])
    if ddddocr and importlib.util.find_spec("ddddocr") is None:
        print("warning: ddddocr is not installed (pip install -e '.[ddddocr]'): scoring our model only",
              file=sys.stderr)
    elif ddddocr:
        readers += ["ddddocr", "ddddocr_beta"] + (["ddddocr_told", "ddddocr_beta_told"] if chars else [])
    if held or chars:  # told only what the model can read: its characters, lengths up to its max_length
        from captcha_ocr.inference.readers import load_reader

        spec = load_reader(model).spec
    results = {}
    for style in styles:
        items = list_folder(zoo / style)[: limit or None]
        paths, labels = [p for p, _ in items], [label for _, label in items]
        used = "".join(sorted(set("".join(labels))))  # the characters the style's labels use
        if held or chars:
            lengths = (min(min(map(len, labels)), spec.max_length), min(max(map(len, labels)), spec.max_length))
            known = "".join(c for c in used if c in spec.chars)
        row = {}
        for name in readers:
            if name.startswith("ours"):
                texts, seconds = read_ours(model, paths, lengths=lengths if name != "ours" else None,
                                           chars=known if name == "ours_chars" else None)
            else:
                texts, seconds = read_ddddocr(paths, beta=name.startswith("ddddocr_beta"),
                                              chars=used if name.endswith("_told") else None)
            row[name] = {**scores(texts, labels), "seconds": round(seconds, 1),
                         "examples": [[lab, t] for lab, t in zip(labels[:5], texts[:5])]}
        results[style] = row
        print(f"{style}: " + ", ".join(f"{k} {v['whole']:.1%}" for k, v in row.items()), file=sys.stderr)
    return results


def render(report: dict) -> str:
    readers = list(next(iter(report["styles"].values())))
    header = ["style", "captchas"] + [f"{r} (case-insensitive)" for r in readers] + ["ours per character"]
    rows = []
    for style, row in report["styles"].items():
        rows.append([style, row["ours"]["count"],
                     *(f"{row[r]['whole']:.1%} ({row[r]['whole_nocase']:.1%})" for r in readers),
                     f"{row['ours']['char']:.1%}"])
    mean = {r: np.mean([row[r]["whole"] for row in report["styles"].values()]) for r in readers}
    rows.append(["mean", "", *(f"{mean[r]:.1%}" for r in readers), ""])
    m = report["machine"]
    return "\n".join([
        f"# Reading captchas drawn by other people's code: `{report['model']}` and ddddocr", "",
        f"`{report['command']}`", "",
        f"Whole-captcha accuracy, case-sensitive (case-insensitive in brackets). `ours` is `{report['model']}`; "
        + ("`ours_held` the same model told each style's lengths (`predict --length`, from the shortest to the "
           "longest label); " if "ours_held" in readers else "")
        + ("`ours_chars` told its lengths and characters (`--length` and `--chars`, the characters its labels "
           "use); " if "ours_chars" in readers else "")
        + "`ddddocr` and `ddddocr_beta` are ddddocr 1.6.1's two models"
        + (", `_told` told the characters too (ddddocr has no lengths to tell). " if "ddddocr_told" in readers else ". ")
        + f"Machine: {m['cpu']} ({m['cpu_count']} cores).", "",
        markdown_table(header, rows, align="lr" + "r" * len(readers) + "r"), ""])


def build_parser():
    p = parser("python scripts/external_benchmark.py", __doc__)
    p.add_argument("--zoo", required=True, help="the folder `python -m captcha_ocr.zoo --out` wrote")
    p.add_argument("--styles", required=True, help="comma-separated style names (folders under --zoo)")
    p.add_argument("--model", default="base_ctc", help="our model: a run, .keras file, shipped model or export")
    p.add_argument("--limit", type=int, default=0, help="read at most this many captchas per style (0: all)")
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument("--no-ddddocr", action="store_true", help="score our model only")
    p.add_argument("--held", action="store_true", help="also read each style with our model told its lengths (the "
                   "shortest to the longest label), as a user who passes predict --length; a ctc model only")
    p.add_argument("--chars", action="store_true", help="also read each style with our model told its lengths and "
                   "the characters its labels use (predict --length and --chars); a ctc model only")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    zoo = Path(args.zoo)
    styles = [s for s in args.styles.split(",") if s]
    missing = [s for s in styles if not (zoo / s).is_dir()]
    if missing:
        raise UserError(f"--styles: no folder {', '.join(missing)} under {zoo}; write them with python -m captcha_ocr.zoo")
    out = output_dir(args.out)
    command = "python scripts/external_benchmark.py " + " ".join(sys.argv[1:] if argv is None else argv)
    report = {"command": command, "model": args.model, "machine": machine_info(),
              "styles": benchmark(zoo, styles, args.model, args.limit, not args.no_ddddocr, args.held,
                                   args.chars)}
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    text = render(report)
    (out / "report.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    run_cli(main)
