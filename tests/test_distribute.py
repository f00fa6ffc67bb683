"""captcha_ocr.training.distribute: mirrored training on 2 logical CPU devices, and multi-worker training as 2 local
processes, through the train command."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import ROOT, SMOKE, assert_user_error, history_rows, run_module, start_and_interrupt

from captcha_ocr.core.machine import free_port
from captcha_ocr.training.rundir import read_history

MIRRORED = ["--set", "train.distribute=mirrored", "--set", "train.cpu_replicas=2"]


def test_mirrored_training_on_two_logical_cpus_trains_saves_and_predicts(workdir, generated_folder):
    run_dir = workdir / "runs" / "mirrored"
    proc = run_module("train", "--config", SMOKE, "--run-dir", run_dir, *MIRRORED, "--set", "train.epochs=4",
                      cwd=workdir, check=True)
    assert "mirrored over 2 devices" in proc.stdout
    rows = read_history(run_dir)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert rows[-1]["loss"] < 0.8 * rows[0]["loss"]
    assert rows[-1]["images"] == 4 * 256  # the batch size is the global one: one pass of the pool per epoch
    pngs = sorted(generated_folder.glob("*.png"))[:3]
    proc = run_module("predict", "--model", run_dir, "--json", *pngs, cwd=workdir, check=True)
    assert len(proc.stdout.splitlines()) == 3


def test_mirrored_training_with_an_average_trains_the_raw_weights_and_validates_the_average(workdir):
    """`train.ema` under tf.distribute: the replicas train the same raw weights as without it (the same training
    losses), and validation reads the moving average (other validation losses)."""
    rows = {}
    for name, sets in (("raw", []), ("ema", ["--set", "train.ema=0.9"])):
        run_dir = workdir / "runs" / f"mirrored-{name}"
        run_module("train", "--config", SMOKE, "--run-dir", run_dir, *MIRRORED, "--set", "train.epochs=2", *sets,
                   cwd=workdir, check=True)
        rows[name] = history_rows(run_dir)
    assert len(rows["raw"]) == len(rows["ema"]) == 2
    assert [r["loss"] for r in rows["ema"]] == [r["loss"] for r in rows["raw"]]
    assert all(a["val_loss"] != b["val_loss"] for a, b in zip(rows["ema"], rows["raw"])), rows


def test_mirrored_training_resumes_after_a_kill(workdir):
    run_dir = workdir / "runs" / "mirrored-resume"
    args = [*MIRRORED, "--set", "train.epochs=12"]
    done = start_and_interrupt(run_dir, workdir, signal.SIGKILL, args)
    assert 2 <= done < 12
    proc = run_module("train", "--config", SMOKE, "--run-dir", run_dir, *args, cwd=workdir, check=True)
    assert "resuming" in proc.stdout and "mirrored over 2 devices" in proc.stdout
    assert [int(r["epoch"]) for r in history_rows(run_dir)] == list(range(1, 13))
    assert json.loads((run_dir / "metrics.json").read_text())["epochs"] == 12


def _cluster(workdir, run_dir, args, ports):
    """The train command as each worker of a 2-process cluster on 127.0.0.1 (TF_CONFIG), started at once."""
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = dict(os.environ, PYTHONPATH=str(ROOT),
                   TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "captcha_ocr.train", "--config", str(SMOKE), "--run-dir", str(run_dir),
             "--set", "train.distribute=multi_worker", *args], cwd=workdir, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    return procs


def _finish(procs, timeout=300):
    outputs = [p.communicate(timeout=timeout)[0] for p in procs]
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out[-3000:]
    return outputs


def test_multi_worker_training_as_two_local_processes_trains_saves_and_predicts(workdir, generated_folder):
    run_dir = workdir / "runs" / "multi"
    chief, other = _finish(_cluster(workdir, run_dir, ["--set", "train.epochs=4"], [free_port(), free_port()]))
    assert "multi-worker over 2 workers (2 replicas); this is worker 0, the chief" in chief
    assert "this is worker 1;" in other
    rows = read_history(run_dir)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert rows[-1]["loss"] < 0.8 * rows[0]["loss"]
    assert rows[-1]["images"] == 4 * 256  # the batch size is the global one
    assert not list(Path(tempfile.gettempdir()).glob("captcha_ocr-multi-worker1-*"))  # worker 1's copy is gone
    pngs = sorted(generated_folder.glob("*.png"))[:3]
    proc = run_module("predict", "--model", run_dir, "--json", *pngs, cwd=workdir, check=True)
    assert len(proc.stdout.splitlines()) == 3


def test_a_multi_worker_training_resumes_after_both_workers_are_killed(workdir):
    run_dir = workdir / "runs" / "multi-resume"
    args, ports = ["--set", "train.epochs=10"], [free_port(), free_port()]
    procs = _cluster(workdir, run_dir, args, ports)
    deadline = time.time() + 240
    while len(history_rows(run_dir)) < 2 and time.time() < deadline and all(p.poll() is None for p in procs):
        time.sleep(0.05)
    for p in procs:
        p.kill()
        p.communicate()
    assert 2 <= len(history_rows(run_dir)) < 10
    chief, _ = _finish(_cluster(workdir, run_dir, args, ports))
    assert "resuming" in chief
    assert [int(r["epoch"]) for r in history_rows(run_dir)] == list(range(1, 11))
    assert json.loads((run_dir / "metrics.json").read_text())["epochs"] == 10


@pytest.mark.parametrize("tf_config, sets, message", [
    (None, [], "TF_CONFIG variable, which is not set"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 3}}', [],
     "TF_CONFIG is not a cluster with this task in it"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 0}}',
     ["--set", "train.time_budget_min=5"], "set train.epochs instead"),
])
def test_a_wrong_multi_worker_setting_is_one_clear_error(workdir, tmp_path, monkeypatch, tf_config, sets, message):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    proc = run_module("train", "--config", SMOKE, "--run-dir", tmp_path / "r", "--set",
                      "train.distribute=multi_worker", *sets, cwd=workdir)
    assert_user_error(proc, message)
