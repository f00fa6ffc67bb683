"""captcha_ocr: train, evaluate and use CNNs that read text captchas.

The heavy modules (TensorFlow) are imported lazily so that `import captcha_ocr`
and the command-line `--help` stay fast.
"""

import os

# TensorFlow's C++ start-up chatter hides our own output; users can set it back, and then see all of it.
if "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    from captcha_ocr import quiet

    quiet.install()

__version__ = "0.1.0"

__all__ = ["Recognizer", "__version__"]


def __getattr__(name):
    if name == "Recognizer":
        from captcha_ocr.predict import Recognizer

        return Recognizer
    raise AttributeError(f"module 'captcha_ocr' has no attribute {name!r}")
