"""Reading captchas with a trained model: `Recognizer` (preprocessing, model and decoding, on a run,
a `.keras` file or a shipped model) in `recognizer`, and `load_reader` in `readers`, which puts any
model (those, or an export) behind one interface."""
