"""Hold back TensorFlow's start-up lines, and only those.

TensorFlow's C++ code prints a handful of lines while it loads (the oneDNN
notice, "could not find cuda drivers", the CPU-feature notice), before its log
level applies, straight to file descriptor 2. `install()` wraps the first
`import tensorflow` so that descriptor 2 goes to a temporary file while it
runs; afterwards every line that is not one of those known notices is written
to stderr as it came, so a real error during the import is still seen. A
TFLite interpreter prints one more notice when it is made (its XNNPACK
delegate); `captcha_ocr.export.readers` holds that back the same way.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

KNOWN_LINES = re.compile(
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"
    r"|^[IW]\d{4} [\d:.]+\s+\d+ (port|cudart_stub|cpu_feature_guard|cuda_dnn|cuda_fft|cuda_blas)\.cc:\d+\] "
    r"|^E\d{4} [\d:.]+\s+\d+ cuda_platform\.cc:\d+\] failed call to cuInit"
    r"|^To enable the following instructions: .* in other operations, rebuild TensorFlow"
    r"|^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.$"  # each TFLite interpreter, when it is made
)


@contextlib.contextmanager
def known_lines_held_back():
    """Send descriptor 2 to a temporary file for the block, then replay all but `KNOWN_LINES`."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            for line in held.read().decode("utf-8", errors="replace").splitlines():
                if not KNOWN_LINES.search(line):
                    print(line, file=sys.stderr)


class _QuietImport(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` once, with a loader whose module execution holds the known lines back."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            with known_lines_held_back():
                execute(module)

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    """Hold back TensorFlow's start-up lines at its first import in this process (no-op if already imported)."""
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())
