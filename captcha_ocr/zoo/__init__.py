"""A benchmark of captchas drawn by other people's generators: `python -m captcha_ocr.zoo`.

Ten captcha generators from PyPI and npm (none written by us, none the
`captcha` package our training draws with) each draw one or more styles into
labeled folders: `<out>/<style>/` holds the images as the generator serves them
(PNG, JPEG or GIF), a `labels.csv` (file,label) and a `zoo.json` manifest with
the generator, its version and licence, the charset, lengths, size, options,
fonts and seed. Every other command reads such a folder as it reads any
labeled folder.

- `styles`: the registry of generators and styles.
- `python_drawers`: the PyPI generators, seeded per image.
- `node`: the npm generators, drawn in batches by `js/draw.js`.
- `build`: the folders and manifests (`make_zoo`, `list_styles`).

docs/zoo.md tabulates the styles, says what was tried and dropped, and which
generators to keep aside for evaluation only.
"""

from captcha_ocr.zoo.build import list_styles, make_zoo
from captcha_ocr.zoo.styles import GENERATORS, STYLES, Generator, Style

__all__ = ["GENERATORS", "STYLES", "Generator", "Style", "list_styles", "make_zoo"]
