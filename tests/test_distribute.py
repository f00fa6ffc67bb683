"""captcha_ocr.distribute: mirrored training on 2 logical CPU devices, through the train command."""

import json
import signal

from captcha_ocr.rundir import read_history
from conftest import SMOKE, history_rows, run_module, start_and_interrupt

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


def test_mirrored_training_resumes_after_a_kill(workdir):
    run_dir = workdir / "runs" / "mirrored-resume"
    args = [*MIRRORED, "--set", "train.epochs=12"]
    done = start_and_interrupt(run_dir, workdir, signal.SIGKILL, args)
    assert 2 <= done < 12
    proc = run_module("train", "--config", SMOKE, "--run-dir", run_dir, *args, cwd=workdir, check=True)
    assert "resuming" in proc.stdout and "mirrored over 2 devices" in proc.stdout
    assert [int(r["epoch"]) for r in history_rows(run_dir)] == list(range(1, 13))
    assert json.loads((run_dir / "metrics.json").read_text())["epochs"] == 12
