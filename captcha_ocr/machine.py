"""The machine that numbers come from: CPU, cores, platform, library versions, and peak memory
(and a free localhost port, for the servers that tests and benchmarks start).

Every report of a speed or a memory figure records these beside it, since
the same command runs at different speeds on different machines.
"""

from __future__ import annotations

import os
import platform
import resource
import socket
import sys
from importlib import metadata
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), or what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine_info() -> dict:
    """CPU model and count, platform, Python and TensorFlow/Keras versions (JSON-ready)."""
    versions = {}
    for package in ("tensorflow", "tensorflow-cpu", "keras"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "python": sys.version.split()[0], "versions": versions}


def peak_rss_mib() -> float:
    """This process's own peak resident set in MiB.

    On Linux from VmHWM in /proc/self/status, which starts afresh at exec:
    `getrusage` keeps the high-water mark from before exec, so a spawned
    worker would report the size of the parent it was forked from.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes, Linux KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2 ** 20


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
