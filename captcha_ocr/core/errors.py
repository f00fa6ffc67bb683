"""User-facing errors.

A `UserError` is a mistake the user can fix (a bad path, config key, image or
label). Command-line entry points run through `captcha_ocr.core.cli.run_cli`, which
prints such an error as one line on stderr and exits with status 2. Anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from typing import Iterable


class UserError(Exception):
    """A problem with the user's input, reported without a traceback."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean 'x'?)' for the closest choice, or '' if none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
