"""User-facing errors and the wrapper that turns them into one line and exit status 2.

A `UserError` is a mistake the user can fix (a bad path, config key, image or
label). Command-line entry points run through `run_cli`, which prints such an
error as one line on stderr and exits with status 2. Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import difflib
import sys
from typing import Callable, Iterable, Sequence


class UserError(Exception):
    """A problem with the user's input, reported without a traceback."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean 'x'?)' for the closest choice, or '' if none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> None:
    """Run a command's `main`, mapping `UserError` and Ctrl-C to clean exits.

    Args:
        main: the command's main function; returns an exit status or None for 0.
        argv: arguments, or None for `sys.argv[1:]`.
    """
    try:
        status = main(argv)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(status or 0)
