"""The pieces every command's `main` shares: config arguments, output folders, numeric flags, logging, exit codes.

Every command is `python -m captcha_ocr.<verb>`; its `main` builds an
`argparse` parser from these pieces, loads what the arguments name and calls
one library function. `run_cli` turns a `UserError` into one `error:` line
and exit status 2, and sends the package's log (`captcha_ocr` logger) to
stdout, its warnings to stderr as `warning: ...` lines.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from captcha_ocr.core.atomic import write_atomic
from captcha_ocr.core.choices import VIEWS
from captcha_ocr.core.errors import UserError

logger = logging.getLogger("captcha_ocr")


def add_config_args(parser: argparse.ArgumentParser, config_help: str | None = None) -> None:
    """Add `--config FILE` and the repeatable `--set KEY=VALUE`."""
    parser.add_argument("--config", help=config_help or "YAML file with differences from configs/base.yaml")
    add_set_arg(parser)


def add_set_arg(parser: argparse.ArgumentParser, where: str = "") -> None:
    """Add the repeatable `--set KEY=VALUE` (into `args.overrides`); `where` says which configs it changes."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override one config value{where}, e.g. --set train.batch_size=32 (repeatable)")


def add_views_arg(parser: argparse.ArgumentParser, what: str = "") -> None:
    """Add `--views N` (`core.choices.VIEWS`' counts, default 1); `what` ends its help (the command's own part)."""
    parser.add_argument("--views", type=int, choices=sorted(VIEWS), default=1,
                        help="read each captcha in this many views, the mean of their probabilities taken: 5 adds "
                        f"copies moved one pixel up, down, left and right, 9 the diagonals too (default 1){what}")


def lengths(text: str) -> tuple[int, int]:
    """`--length`'s value: N or LOW-HIGH characters, 1 <= LOW <= HIGH."""
    low, _, high = text.partition("-")
    try:
        pair = (int(low), int(high or low))
    except ValueError:
        pair = (0, 0)
    if not 1 <= pair[0] <= pair[1]:
        raise argparse.ArgumentTypeError(f"{text!r} is not N or LOW-HIGH characters (e.g. 5 or 4-6)")
    return pair


def add_length_arg(parser: argparse.ArgumentParser) -> None:
    """Add `--length N|LOW-HIGH` (`args.length`, default None: the lengths the model was trained on)."""
    parser.add_argument("--length", type=lengths, metavar="N|LOW-HIGH",
                        help="the lengths your captchas have, e.g. 5 or 4-6: a ctc model's reads are held to them "
                        "(default: the lengths it was trained on); Keras models only")


def add_chars_arg(parser: argparse.ArgumentParser) -> None:
    """Add `--chars CHARS` (`args.chars`, default None: every character the model reads)."""
    parser.add_argument("--chars", help="the characters your captchas use, e.g. 0123456789: only those are read "
                        "(default: all the model reads); Keras models only")


def config_from_args(args: argparse.Namespace):
    """The config that `--config` and `--set` describe."""
    from captcha_ocr.core.config import load_config

    return load_config(args.config, args.overrides)


def output_dir(path: str | Path, flag: str = "--out") -> Path:
    """Create an output folder (and its parents), or say in one line why it cannot be.

    Raises:
        UserError: the path is a file or cannot be created (permissions, read-only disk).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {str(path)!r} is a file; give a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create {flag} folder {str(path)!r}: {err.strerror}; give a writable folder") from None
    return path


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse `type` for integers >= `minimum`, with a one-line error for anything else."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def float_above(minimum: float) -> Callable[[str], float]:
    """An argparse `type` for numbers > `minimum` (NaN and infinity refused), with a one-line error for anything else."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not minimum < value < float("inf"):
            raise argparse.ArgumentTypeError(f"must be a finite number above {minimum:g}, got {text!r}")
        return value

    parse.__name__ = f"number > {minimum:g}"
    return parse


def parse_fraction(value) -> float:
    """A number between 0 and 1 from user input (command-line text or a JSON value).

    Raises:
        ValueError: with a message that quotes the value (argparse and the HTTP service each wrap it).
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number between 0 and 1, got {value!r}") from None
    if not 0.0 <= number <= 1.0:  # NaN fails this too
        raise ValueError(f"must be between 0 and 1, got {value!r}")
    return number


def fraction(text: str) -> float:
    """An argparse `type` for a number between 0 and 1."""
    try:
        return parse_fraction(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors as one `error:` line and exit status 2, like every other user error."""

    def error(self, message: str):
        raise UserError(f"{self.prog}: {message}")


def writable_file(path: str | Path, flag: str) -> Path:
    """A file path whose folder exists (created if missing) and can be written, or a `UserError` saying why not."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{flag} {str(path)!r} is a folder; give a file path")
    if path.parent.is_file():
        raise UserError(f"cannot write {flag} {str(path)!r}: {str(path.parent)!r} is a file, not a folder")
    folder = output_dir(path.parent, flag)
    if not os.access(folder, os.W_OK):
        raise UserError(f"cannot write {flag} {str(path)!r}: its folder is not writable; give a writable path")
    return path


def write_output(path: Path, write: Callable[[Path], None], flag: str) -> None:
    """Write one output file atomically (`captcha_ocr.core.atomic`), or say in one line why it cannot be."""
    try:
        write_atomic(path, write)
    except OSError as err:
        raise UserError(f"cannot write {flag} {str(path)!r}: {err.strerror or err}; give a writable path") from None


def parser(prog: str, doc: str | None, **kwargs) -> argparse.ArgumentParser:
    """A command's parser, described by the first paragraph of its module docstring."""
    return _Parser(prog=prog, description=(doc or "").split("\n\n")[0], **kwargs)


class _Levels(logging.Filter):
    def __init__(self, below: int | None = None, at_least: int | None = None):
        super().__init__()
        self.below, self.at_least = below, at_least

    def filter(self, record):
        return ((self.below is None or record.levelno < self.below)
                and (self.at_least is None or record.levelno >= self.at_least))


def setup_logging() -> None:
    """The package's info messages to stdout, its warnings to stderr as `warning: ...`."""
    if getattr(logger, "_captcha_ocr_cli", False):
        return
    out = logging.StreamHandler(sys.stdout)
    out.addFilter(_Levels(below=logging.WARNING))
    out.setFormatter(logging.Formatter("%(message)s"))
    err = logging.StreamHandler(sys.stderr)
    err.addFilter(_Levels(at_least=logging.WARNING))
    err.setFormatter(logging.Formatter("warning: %(message)s"))
    logger.addHandler(out)
    logger.addHandler(err)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger._captcha_ocr_cli = True


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> None:
    """Run a command's `main`, mapping `UserError` and Ctrl-C to clean exits.

    Args:
        main: the command's main function; returns an exit status or None for 0.
        argv: arguments, or None for `sys.argv[1:]`.
    """
    setup_logging()
    try:
        status = main(argv)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        # The reader of our output went away (`predict ... | head`): stop quietly, as a shell tool does.
        # stdout is pointed at /dev/null so that Python's own flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
    sys.exit(status or 0)
