"""How a model reads a labeled folder in views moved by one, two or three pixels (what chose
`captcha_ocr.core.choices.VIEWS`' one pixel, on training-side styles only).

    python scripts/view_shifts.py RUN FOLDER

Each view is the image moved by (dy, dx) pixels with its edge repeated (as the `Shift` layer does for one
pixel; for more it mirrors the border, so the two- and three-pixel sets here are not exactly the layer's); a set of
views reads with the mean of their probabilities, frame by frame, as `python -m captcha_ocr.ensemble --views`
does. Prints whole-captcha accuracy for one view and for each set.
"""

from __future__ import annotations

import argparse

import numpy as np

from captcha_ocr.core.choices import VIEWS
from captcha_ocr.core.images import scale_pixels
from captcha_ocr.data.folder import load_folder
from captcha_ocr.model.decode import decode, probabilities
from captcha_ocr.model.layers import model_spec
from captcha_ocr.training.rundir import load_run


def grid(*steps: int) -> list[tuple[int, int]]:
    return [(dy, dx) for dy in steps for dx in steps]


SETS = {
    "3x3, one pixel (--views 9)": list(VIEWS[9]),
    "plus, one pixel (--views 5)": list(VIEWS[5]),
    "3x3, two pixels": grid(-2, 0, 2),
    "3x3, three pixels": grid(-3, 0, 3),
    "5x5, one and two pixels": grid(-2, -1, 0, 1, 2),
    "plus, two pixels": [(0, 0), (-2, 0), (2, 0), (0, -2), (0, 2)],
}


def shifted(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    h, w = x.shape[1:3]
    return x[:, np.clip(np.arange(h) - dy, 0, h - 1)][:, :, np.clip(np.arange(w) - dx, 0, w - 1)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("folder")
    args = p.parse_args()
    model = load_run(args.run)[0]
    spec = model_spec(model)
    data = load_folder(args.folder, spec.charset, spec.input_shape, workers=1, resize=spec.resize)
    x = scale_pixels(data.images)
    readings: dict[tuple[int, int], np.ndarray] = {}

    def accuracy(keys) -> float:
        for k in keys:
            if k not in readings:
                readings[k] = probabilities(model.predict(shifted(x, *k), batch_size=256, verbose=0), spec.loss)
        mean = np.mean([readings[k] for k in keys], axis=0)
        _, _, classes = decode(np.log(mean + 1e-12), spec.charset, spec.loss)
        return float(np.mean(np.all(classes == data.labels, axis=1)))

    print(f"{args.run} on {args.folder} ({len(x)} captchas)")
    print(f"  one view: {accuracy([(0, 0)]):.1%}")
    for name, keys in SETS.items():
        print(f"  {name}: {accuracy(keys):.1%}")


if __name__ == "__main__":
    main()
