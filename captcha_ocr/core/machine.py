"""The machine that numbers come from: CPU, cores, platform, library versions, and peak memory
(and a free localhost port, for the servers that tests and benchmarks start); and the
precision that `train.precision: auto` picks for it.

Every report of a speed or a memory figure records these beside it, since
the same command runs at different speeds on different machines.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import socket
import sys
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

from captcha_ocr.core.errors import UserError


def _cpuinfo(key: str) -> str | None:
    """The value of the first `key` line of /proc/cpuinfo (Linux), or None."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), or what `platform` knows."""
    return _cpuinfo("model name") or platform.processor()


def cpu_flags() -> set[str]:
    """The CPU's feature flags (the `flags` line of /proc/cpuinfo); empty where there is none."""
    return set((_cpuinfo("flags") or "").split())


# The CPU flags of native bfloat16 arithmetic, which oneDNN uses for bfloat16 matrix products.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
# oneDNN ISA caps (ONEDNN_MAX_CPU_ISA) below AVX512_CORE: with one of them set, oneDNN has no bfloat16
# kernels at all. TensorFlow still hands bfloat16 to oneDNN on a CPU with AVX-512 (avx512f), so there a
# bfloat16 training aborts at its first convolution (measured 2026-12-06 on a Xeon with AMX: SSE41 to
# AVX2_VNNI_2 abort, AVX512_CORE emulates); without AVX-512, TensorFlow's own kernels emulate it (the AVX2
# EPYC below).
NO_BF16_KERNEL_ISAS = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2"}
# The caps below AVX512_CORE_BF16: with one of them set, oneDNN emulates bfloat16 (or, above, cannot run
# it) whatever the CPU can do.
NO_BF16_ISAS = NO_BF16_KERNEL_ISAS | {"AVX512_CORE", "AVX512_CORE_VNNI"}
# Measured on a 2-vCPU AVX2 EPYC (docs/measurements.md): the quickstart's 2 epochs took 307 s in
# mixed_bfloat16 against 61 s in float32.
EMULATED_BF16_SLOWDOWN = 5.0


class PrecisionChoice(NamedTuple):
    """What `choose_precision` decided: the precision, a sentence saying why, and whether it is a warning."""

    precision: str
    reason: str
    warning: bool = False


def _flags_and_cap(flags: set[str] | None, isa_cap: str | None) -> tuple[set[str], str]:
    """`flags` and `isa_cap`, each defaulting to this machine's: its CPU flags, the environment's ONEDNN_MAX_CPU_ISA."""
    return (cpu_flags() if flags is None else flags,
            os.environ.get("ONEDNN_MAX_CPU_ISA", "") if isa_cap is None else isa_cap)


def bfloat16_aborts(flags: set[str] | None = None, isa_cap: str | None = None) -> bool:
    """Whether bfloat16 arithmetic cannot run here at all: oneDNN capped below its bfloat16 kernels
    (`NO_BF16_KERNEL_ISAS`) on a CPU where TensorFlow sends bfloat16 to oneDNN (avx512f).

    Args:
        flags: the CPU flags (default: this CPU's).
        isa_cap: oneDNN's ISA cap (default: the environment's ONEDNN_MAX_CPU_ISA).
    """
    flags, isa_cap = _flags_and_cap(flags, isa_cap)
    return isa_cap.upper() in NO_BF16_KERNEL_ISAS and "avx512f" in flags


def choose_precision(requested: str, flags: set[str] | None = None, isa_cap: str | None = None,
                     gpu_capabilities: list[tuple[int, int]] | None = None) -> PrecisionChoice:
    """The precision to train in, and why, for `train.precision` on this machine.

    `auto` picks mixed_bfloat16 where the hardware computes bfloat16 natively (every GPU of compute
    capability 8.0 or more; with no GPU, a CPU flag in `BF16_CPU_FLAGS` that oneDNN is allowed to use),
    else float32. An explicit choice is kept; the reason then warns when bfloat16 would be emulated.

    Args:
        requested: `auto`, `float32` or `mixed_bfloat16`.
        flags: the CPU flags (default: this CPU's).
        isa_cap: oneDNN's ISA cap (default: the environment's ONEDNN_MAX_CPU_ISA).
        gpu_capabilities: the (major, minor) compute capability of each GPU (default: none).

    Returns:
        `float32` or `mixed_bfloat16`, with a sentence that says why.

    Raises:
        UserError: an explicit mixed_bfloat16 where it cannot run (`bfloat16_aborts`).
    """
    flags, isa_cap = _flags_and_cap(flags, isa_cap)
    aborts = bfloat16_aborts(flags, isa_cap)
    if requested == "mixed_bfloat16" and not gpu_capabilities and aborts:
        raise UserError(f"train.precision: mixed_bfloat16 cannot run with ONEDNN_MAX_CPU_ISA={isa_cap} on this CPU: "
                        "TensorFlow hands bfloat16 to oneDNN (the CPU has AVX-512) and oneDNN capped there has no "
                        "bfloat16 kernels; set train.precision: auto or float32, or cap at AVX512_CORE or above")
    if gpu_capabilities:
        native = all(c >= (8, 0) for c in gpu_capabilities)
        why = f"GPU compute capability {', '.join(f'{a}.{b}' for a, b in gpu_capabilities)}"
        why += " (bfloat16 is native from 8.0)"
    else:
        have = [f for f in BF16_CPU_FLAGS if f in flags]
        capped = isa_cap.upper() in NO_BF16_ISAS
        native = bool(have) and not capped
        if capped and have:
            why = f"ONEDNN_MAX_CPU_ISA={isa_cap} keeps oneDNN from the CPU's {'/'.join(have)}"
        elif have:
            why = f"the CPU has {'/'.join(have)}"
        else:
            why = f"the CPU has no {'/'.join(BF16_CPU_FLAGS)}"
    if requested == "auto":
        chosen = "mixed_bfloat16" if native else "float32"
        slow = "" if native else (" (bfloat16 cannot run under that cap here)" if aborts
                                  else f" (bfloat16 would be emulated, {EMULATED_BF16_SLOWDOWN:g}x slower)")
        return PrecisionChoice(chosen, f"train.precision: auto chose {chosen}: {why}{slow}")
    if requested == "mixed_bfloat16" and not native:
        return PrecisionChoice(requested, f"train.precision: mixed_bfloat16, but {why}: bfloat16 is emulated, "
                               f"about {EMULATED_BF16_SLOWDOWN:g}x slower than float32; set train.precision: auto",
                               warning=True)
    return PrecisionChoice(requested, f"train.precision: {requested}")


def gpu_capabilities() -> list[tuple[int, int]]:
    """The compute capability of each GPU TensorFlow sees (imports TensorFlow)."""
    import tensorflow as tf

    found = []
    for gpu in tf.config.list_physical_devices("GPU"):
        found.append(tuple(tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))))
    return found


def report_machine(previous_summary: Path, measured_here: bool) -> dict:
    """The machine a study's report names: this one (`machine_info`) if it measured anything here; else,
    when every run was reused, the machine `previous_summary` (the report's summary.json) already names,
    which trained them."""
    if not measured_here and previous_summary.is_file():
        try:
            return json.loads(previous_summary.read_text())["machine"]
        except (ValueError, KeyError):
            pass
    return machine_info()


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
