"""The ground floor every other layer stands on: no TensorFlow at import, no captcha_ocr module above it.

Bottom up: `errors` (UserError), `atomic` (whole-or-nothing writes), `quiet`
(TensorFlow's start-up lines), `machine` (CPU, memory, the precision `auto`
picks), `workers` (process pools), `tables` (markdown tables), `choices` (the
names a config may choose), `charset`, `images` (decode and resize), `spec`
(what a saved model carries), `config` (the typed config and its recipes),
`cli` (the pieces every command's `main` shares).
"""

__version__ = "0.1.0"  # the package's version, here so that every layer can read it (pyproject.toml does too)
