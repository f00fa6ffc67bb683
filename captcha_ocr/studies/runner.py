"""Run a command (`python -m captcha_ocr.<verb>`) in its own process, its output appended to a log.

Commands that train many runs (`compare`, `learning_curve`) train each in its
own process: a failing run leaves the others alone, and each run's memory is
returned when it ends.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Sequence

from captcha_ocr.training.rundir import is_finished


def run_command(verb: str, args: Sequence[str], log: Path, *, log_failure_only: bool = False) -> tuple[int, str]:
    """Run `python -m captcha_ocr.<verb> args...`, appending its output to `log`.

    Args:
        log_failure_only: append the output only if the command fails (a finished run that is read again
            leaves the log of its training as it was).

    Returns:
        (exit status, the output of this attempt).
    """
    cmd = [sys.executable, "-m", f"captcha_ocr.{verb}", *map(str, args)]
    log.parent.mkdir(parents=True, exist_ok=True)
    header = f"=== {datetime.now().isoformat(timespec='seconds')} {shlex.join(cmd)}\n"
    # Unbuffered, so `tail -f` on the log follows a run as it trains.
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if log_failure_only:
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                              text=True, encoding="utf-8", errors="replace")
        if done.returncode:
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(header + done.stdout)
        return done.returncode, done.stdout
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(header)
        fh.flush()
        start = fh.tell()
        status = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env).returncode
    with open(log, encoding="utf-8", errors="replace") as fh:
        fh.seek(start)
        return status, fh.read()


def run_training(args: Sequence[str], run_dir: Path, log: Path) -> tuple[int, str]:
    """`python -m captcha_ocr.train args... --run-dir run_dir`, its output appended to `log`, except for a run
    finished before: reading it back leaves the log of its training as it was, unless that fails.

    Returns:
        (exit status, the output of this attempt).
    """
    return run_command("train", [*args, "--run-dir", run_dir], log, log_failure_only=is_finished(run_dir))


def attempt_error(output: str) -> str:
    """The line that best says why a command failed: its `error:` line, else its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    line = (errors or lines or ["no output"])[-1]
    return line if len(line) <= 200 else line[:197] + "..."
