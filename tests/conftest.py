"""Shared fixtures: the smoke config, a CLI runner, and one trained smoke run."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from captcha_ocr.core.machine import bfloat16_aborts, free_port

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
SMOKE = CONFIGS / "smoke.yaml"

# For tests that compute in bfloat16: it cannot run where ONEDNN_MAX_CPU_ISA caps oneDNN below its bfloat16
# kernels on a CPU with AVX-512 (a way to measure the AVX2 kind on a newer CPU; core.machine.bfloat16_aborts).
needs_bfloat16 = pytest.mark.skipif(bfloat16_aborts(), reason="bfloat16 cannot run under this ONEDNN_MAX_CPU_ISA "
                                    "on a CPU with AVX-512 (train says so in one line: tests/test_machine.py)")


def run_module(module: str, *args, cwd: Path, timeout: float = 300, check: bool | None = None,
               env: dict | None = None):
    """Run `python -m captcha_ocr.<module> args...` as a real process in `cwd` (`env`: extra variables)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env or {}))
    proc = subprocess.run(
        [sys.executable, "-m", f"captcha_ocr.{module}", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )
    if check:
        assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    return proc


def assert_user_error(proc, *fragments: str):
    """Exit status 2, one `error:` line naming the problem, and no traceback."""
    assert proc.returncode == 2, f"exit {proc.returncode}\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors, proc.stderr
    for fragment in fragments:
        assert any(fragment in line for line in errors), (fragment, errors)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    """A working directory shared by the session (its data/cache is reused)."""
    return tmp_path_factory.mktemp("work")


@pytest.fixture(scope="session")
def smoke_run(workdir) -> Path:
    """A run directory trained by the real train command on the smoke config."""
    run_dir = workdir / "runs" / "smoke"
    run_module("train", "--config", SMOKE, "--run-dir", run_dir, cwd=workdir, check=True)
    return run_dir


@pytest.fixture(scope="session")
def generated_folder(workdir) -> Path:
    """A labeled folder of 24 PNG captchas written by the real generate command."""
    out = workdir / "generated"
    run_module("generate", "--config", SMOKE, "--out", out, "--count", 24, "--seed", 7, cwd=workdir, check=True)
    return out


@pytest.fixture(scope="session")
def pngs(generated_folder) -> list[Path]:
    """The generated folder's 24 PNGs, in order."""
    return sorted(generated_folder.glob("*.png"))


def assert_same_readings(expected, got, conf_tol, conf_atol=1e-7):
    """Two readers' `Prediction`s of the same images: the same texts, confidences within the tolerances."""
    assert [p.text for p in got] == [p.text for p in expected]
    np.testing.assert_allclose([p.confidence for p in got], [p.confidence for p in expected], rtol=conf_tol,
                               atol=conf_atol)


class web:
    """httpx's requests with a 60 s timeout: its default of 5 s is shorter than a slow CI machine can take to
    trace a model on its first read, and a test should fail on what the server answered, not on how fast."""

    TIMEOUT = 60.0

    @staticmethod
    def request(method: str, url: str, **kwargs):
        import httpx

        return httpx.request(method, url, **{"timeout": web.TIMEOUT, **kwargs})

    @staticmethod
    def get(url: str, **kwargs):
        return web.request("GET", url, **kwargs)

    @staticmethod
    def post(url: str, **kwargs):
        return web.request("POST", url, **kwargs)


class Server:
    """`python -m captcha_ocr.serve ...` running as a real process on a free localhost port."""

    def __init__(self, *args, cwd: Path, timeout: float = 120):
        import time
        import urllib.request

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.log = open(Path(cwd) / f"serve-{self.port}.log", "w+")
        self.proc = subprocess.Popen([sys.executable, "-m", "captcha_ocr.serve", *map(str, args),
                                      "--port", str(self.port)], cwd=cwd, env=env, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(f"the server did not start:\n{self.output()[-3000:]}")
                time.sleep(0.3)

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self, kill: bool = False) -> None:
        if self.proc.poll() is None:
            self.proc.kill() if kill else self.proc.terminate()
            self.proc.wait(30)
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def history_rows(run_dir: Path) -> list[dict]:
    """The rows of a run's history.csv as written so far."""
    path = run_dir / "history.csv"
    if not path.is_file():
        return []
    with open(path) as fh:
        return list(csv.DictReader(fh))


def start_and_interrupt(run_dir: Path, workdir: Path, sig: int, args: list[str]) -> int:
    """Start the train command on the smoke config, send `sig` once 2 epochs are recorded; returns the epochs done."""
    cmd = [sys.executable, "-m", "captcha_ocr.train", "--config", str(SMOKE), "--run-dir", str(run_dir), *args]
    # A shell that starts jobs in the background makes them ignore SIGINT, and children inherit
    # that; restore the default so the training process gets Ctrl-C as a user's terminal sends it.
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 240
    while len(history_rows(run_dir)) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    return len(history_rows(run_dir))


def markdown_rows(text: str) -> list[list[str]]:
    """The cells of every Markdown table row in `text`, stripped (separator rows left out), so that tests
    read tables as tables whatever their padding."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("|") and line.endswith("|") and not set(line) <= set("|-: "):
            rows.append([cell.strip() for cell in line[1:-1].split(" | ")])
    return rows
