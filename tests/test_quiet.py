"""captcha_ocr.core.quiet: TensorFlow's start-up lines are held back, anything else on stderr is not."""

import os
import subprocess
import sys

from conftest import ROOT

from captcha_ocr.core.quiet import KNOWN_LINES

# A user's shell: neither the log level nor the marker that captcha_ocr sets for its child processes.
ENV = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "CAPTCHA_OCR_QUIET_TF")} | {
    "PYTHONPATH": str(ROOT)}


def run(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=ENV | env, capture_output=True, text=True, timeout=120)


def test_importing_tensorflow_prints_nothing():
    proc = run("import captcha_ocr, tensorflow as tf; print(tf.constant(2) * 3)")
    assert proc.returncode == 0 and "6" in proc.stdout
    assert proc.stderr == "", proc.stderr


def test_other_lines_written_while_held_still_reach_stderr():
    code = ("import os\nfrom captcha_ocr.core.quiet import known_lines_held_back\nwith known_lines_held_back():\n"
            "    os.write(2, b'I0000 00:00:1795.1  42 port.cc:153] oneDNN custom operations are on.\\n')\n"
            "    os.write(2, b'E0000 00:00:1795.2  42 some_kernel.cc:7] a real problem\\n')\n")
    proc = run(code)
    assert proc.returncode == 0
    assert proc.stderr.splitlines() == ["E0000 00:00:1795.2  42 some_kernel.cc:7] a real problem"]


def held_back_lines(stderr: str) -> list[str]:
    """The lines of `stderr` that captcha_ocr holds back when the user sets no log level.

    Which ones TensorFlow prints depends on the CPU (an AVX2-only EPYC prints no oneDNN line, only
    the absl and cudart_stub ones), so the tests ask for any of them, not for one in particular.
    """
    return [line for line in stderr.splitlines() if KNOWN_LINES.search(line)]


def test_a_user_who_sets_the_log_level_sees_everything():
    proc = run("import captcha_ocr, tensorflow", TF_CPP_MIN_LOG_LEVEL="0")
    assert proc.returncode == 0 and held_back_lines(proc.stderr), proc.stderr


def test_child_processes_of_a_command_are_quiet_too():
    """compare and learning_curve train in child processes, which inherit the log level set at import."""
    code = ("import os, subprocess, sys, captcha_ocr\n"
            "child = subprocess.run([sys.executable, '-c', 'import captcha_ocr, tensorflow'], env=os.environ,"
            " capture_output=True, text=True)\n"
            "sys.stderr.write(child.stderr)\n")
    proc = run(code)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    # a user's own level still wins in the child
    proc = run(code.replace("env=os.environ", "env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='0')"))
    assert held_back_lines(proc.stderr), proc.stderr
