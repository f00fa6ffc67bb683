"""Print the markdown table of the few-labels experiment from its learning-curve summaries.

    python scripts/few_labels_table.py reports/few-labels     # after scripts/few_labels_experiment.sh
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from captcha_ocr.core.tables import markdown_table

KEPT_ASIDE = ("grid", "dots", "hatch")  # measured after the methods were fixed on the others


def cell(points: list[dict], labels: int | None) -> str:
    for p in points:
        if labels is None or p["labels"] == labels:
            if p.get("captcha_acc") is None:
                return "failed"
            return f"{p['captcha_acc']:.1%} ({p['char_acc']:.1%})"
    return "–"


def main(folder: str) -> int:
    rows = []
    for summary_path in sorted(Path(folder).glob("*/summary.json")):
        s = json.loads(summary_path.read_text())
        m = s["methods"]
        style = summary_path.parent.name
        rows.append((style in KEPT_ASIDE, style, s["charset"], f"{s['lengths'][0]}–{s['lengths'][1]}",
                     cell(m.get("zero_shot", []), None), cell(m.get("finetune", []), 100),
                     cell(m.get("finetune", []), 500), cell(m.get("scratch", []), 500), s["budget_min"]))
    table = [[f"[{style}{' (kept aside)' if aside else ''}]({folder}/{style}/report.md)", len(chars),
              lengths, *cells] for aside, style, chars, lengths, *cells, _ in sorted(rows)]
    print(markdown_table(["style", "charset", "length", "zero-shot", "100 labels, fine-tuned",
                          "500 labels, fine-tuned", "500 labels, from scratch"], table))
    budgets = sorted({r[-1] for r in rows})
    print(f"\nWhole-captcha accuracy on 1,000 held-out captchas per style (per character in brackets); "
          f"each training at most {', '.join(f'{b:g}' for b in budgets)} min on 2 cores.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "reports/few-labels"))
