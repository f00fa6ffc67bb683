"""captcha_ocr.data_service: a dispatcher and 2 workers on localhost render a training's captcha stream."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, SMOKE, assert_user_error, history_rows, run_module, start_and_interrupt

from captcha_ocr.core.machine import free_port
from captcha_ocr.training.rundir import read_history


def _start(workdir, name, *args):
    log = open(workdir / f"{name}.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "captcha_ocr.data_service", *map(str, args)], cwd=workdir,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=log, stderr=subprocess.STDOUT)
    return proc, log


def _wait_for(proc, log, text, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log.seek(0)
        if text in log.read():
            return
        assert proc.poll() is None, f"exited with {proc.returncode}:\n{log.read()}"
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not printed within {timeout} s")


@pytest.fixture(scope="module")
def service(workdir):
    """grpc://127.0.0.1:PORT of a dispatcher with 2 workers (1 rendering process each), all real processes."""
    port = free_port()
    procs = [_start(workdir, "dispatcher", "dispatcher", "--port", port)]
    _wait_for(*procs[0], "tf.data dispatcher at")
    for i in range(2):
        procs.append(_start(workdir, f"worker{i}", "worker", "--dispatcher", f"127.0.0.1:{port}",
                            "--port", free_port(), "--processes", 1))
        _wait_for(*procs[-1], "tf.data worker (1 rendering processes)")
    yield f"grpc://127.0.0.1:{port}"
    renderers = [child for proc, _ in procs[1:] for child in _children(proc.pid)]
    assert renderers, "the workers rendered with no process of their own"
    for proc, log in reversed(procs):
        proc.terminate()
        proc.wait(30)
        log.close()
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() for pid in renderers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in renderers if Path(f"/proc/{pid}").exists()], "a stopped worker left renderers behind"


def _children(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
            for c in (task / "children").read_text().split()]


def _on(service):
    return ["--set", "data.train_size=0", "--set", "train.steps_per_epoch=8", "--set", f"data.service={service}"]


def test_the_service_streams_the_captchas_of_the_local_stream(service, workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    from captcha_ocr.core.config import load_config
    from captcha_ocr.data import pipeline as data

    config = load_config(SMOKE, ["data.train_size=0"])
    served = data._stream_elements(config.model_copy(update={"data": config.data.model_copy(
        update={"service": service})}), seed=7, start=130)
    local = data._stream_elements(config, seed=7, start=130)
    got = {(x.numpy().tobytes(), y.numpy().tobytes()) for x, y in served.take(300)}
    # Chunks arrive as the 2 workers finish them, so 300 served captchas can come from beyond the first 300.
    want = {(x.numpy().tobytes(), y.numpy().tobytes()) for x, y in local.take(1000)}
    assert len(got) == 300 and got <= want


def test_a_training_on_the_service_learns_saves_predicts_and_resumes(service, workdir, generated_folder):
    run_dir = workdir / "runs" / "service"
    proc = run_module("train", "--config", SMOKE, "--run-dir", run_dir, *_on(service), "--set", "train.epochs=4",
                      cwd=workdir, check=True)
    assert f"rendered by the tf.data service at {service}" in proc.stdout
    rows = read_history(run_dir)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4] and rows[-1]["images"] == 4 * 8 * 32
    assert rows[-1]["loss"] < 0.8 * rows[0]["loss"]
    pngs = sorted(generated_folder.glob("*.png"))[:3]
    assert len(run_module("predict", "--model", run_dir, *pngs, cwd=workdir, check=True).stdout.splitlines()) == 3

    resumed = workdir / "runs" / "service-resume"
    args = [*_on(service), "--set", "train.epochs=10"]
    assert 2 <= start_and_interrupt(resumed, workdir, signal.SIGKILL, args) < 10
    proc = run_module("train", "--config", SMOKE, "--run-dir", resumed, *args, cwd=workdir, check=True)
    assert "resuming" in proc.stdout
    assert [int(r["epoch"]) for r in history_rows(resumed)] == list(range(1, 11))


@pytest.mark.parametrize("value, sets, message", [
    ("localhost:5050", ["data.train_size=0", "train.steps_per_epoch=2"], "is not grpc://HOST:PORT"),
    ("grpc://127.0.0.1:{free}", ["data.train_size=0", "train.steps_per_epoch=2"], "no tf.data dispatcher answers"),
    ("grpc://127.0.0.1:{free}", [], "set data.train_size=0"),  # a fixed pool is rendered in this process
])
def test_a_wrong_service_setting_is_one_clear_error(workdir, tmp_path, value, sets, message):
    sets = [a for s in [f"data.service={value.format(free=free_port())}", *sets] for a in ("--set", s)]
    proc = run_module("train", "--config", SMOKE, "--run-dir", tmp_path / "r", *sets, cwd=workdir)
    assert_user_error(proc, message)
    assert not (tmp_path / "r" / "history.csv").exists()


def test_a_worker_without_its_dispatcher_is_one_clear_error(workdir):
    port = free_port()
    proc = run_module("data_service", "worker", "--dispatcher", f"127.0.0.1:{port}", cwd=workdir)
    assert_user_error(proc, f"no tf.data dispatcher answers at 127.0.0.1:{port}", "data_service dispatcher")
