"""Write files whole or not at all.

A file is written under a temporary name beside its target, flushed to disk
and renamed over the target (`os.replace` is atomic on POSIX and Windows), so
a process killed at any moment leaves either the old file or the new one,
never half of one. Every file that a later command reads goes through here.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable


def temporary_path(path: Path) -> Path:
    """A hidden name beside `path`, unique per process and thread, keeping its suffixes
    (np.savez needs .npz, Keras .keras and .weights.h5)."""
    suffix = "".join(path.suffixes)
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    return path.with_name(f".{stem}.{os.getpid()}-{threading.get_ident()}.tmp{suffix}")


def stale_temporaries(path: str | Path) -> list[Path]:
    """The temporary files (`temporary_path`) of `path` that processes no longer running left behind
    when they were killed while writing; those of this process and of live processes are not stale."""
    path = Path(path)
    suffix = "".join(path.suffixes)
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    stale = []
    for tmp in path.parent.glob(f".{stem}.*.tmp{suffix}"):
        try:
            pid = int(tmp.name[len(stem) + 2:].split("-", 1)[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _running(pid):
            stale.append(tmp)
    return sorted(stale)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's process
        return True
    return True


def write_atomic(path: str | Path, write: Callable[[Path], None], durable: bool = True) -> None:
    """Call `write(tmp)` to write a temporary file, then rename it over `path`.

    Args:
        durable: fsync the file before the rename, so that it also survives a power cut (a killed
            process never leaves half a file either way); off for files cheap to make again.

    Raises:
        OSError: the folder is not writable or the disk is full (the target is left as it was).
    """
    path = Path(path)
    tmp = temporary_path(path)
    try:
        write(tmp)
        if durable:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())  # the data reaches the disk before the name points at it
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
