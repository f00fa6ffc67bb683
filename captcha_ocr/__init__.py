"""captcha_ocr: train, evaluate and use CNNs that read text captchas.

The heavy modules (TensorFlow) are imported lazily so that `import captcha_ocr`
and the command-line `--help` stay fast.
"""

import os

# TensorFlow's C++ start-up chatter hides our own output; users can set it back, and then see all of it.
# The marker tells our own child processes (compare's and learning_curve's trainings), which inherit
# the variable, that it was set here and not by the user, so they hold the chatter back too.
_ours = os.environ.get("CAPTCHA_OCR_QUIET_TF") == "1" and os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "3"
if "TF_CPP_MIN_LOG_LEVEL" not in os.environ or _ours:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ["CAPTCHA_OCR_QUIET_TF"] = "1"
    from captcha_ocr.core import quiet

    quiet.install()

from captcha_ocr.core import __version__  # noqa: E402  (after the TensorFlow set-up above)

__all__ = ["Recognizer", "__version__"]


def __getattr__(name):
    if name == "Recognizer":
        from captcha_ocr.inference.recognizer import Recognizer

        return Recognizer
    raise AttributeError(f"module 'captcha_ocr' has no attribute {name!r}")
