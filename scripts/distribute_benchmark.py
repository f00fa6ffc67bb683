"""What each way of spreading a training costs on this machine, measured in one run.

    python scripts/distribute_benchmark.py --config configs/examples/quickstart_sigmoid.yaml --out reports/distribute

Trains the config's model on the endless synthetic stream (`data.train_size=0`) with the train
command, once per mode, the same steps each, and reads training images/s from the second epoch
on (the first holds start-up and tracing):

- `local`: plain training, captchas rendered by `data.workers` processes of this machine (one per core);
- `service`: the same, rendered by a tf.data service (`captcha_ocr.data_service`) with a dispatcher and
  2 workers of 1 rendering process each, on localhost;
- `mirrored`: `train.distribute=mirrored` over `train.cpu_replicas=2` logical CPU devices;
- `multi_worker`: `train.distribute=multi_worker` as 2 processes on 127.0.0.1 (TF_CONFIG), each
  rendering with 1 process; images/s counts the global batches.

It also reads the bare stream (no training) locally and from the service, in images/s. On 2 cores
none of these can be faster than `local`: the figures are the overhead of each mode.
Writes distribute.json and distribute.md to --out.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from captcha_ocr.core.tables import markdown_table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from captcha_ocr.core.cli import int_at_least, output_dir, parser, run_cli  # noqa: E402
from captcha_ocr.core.machine import free_port, machine_info  # noqa: E402


def _env(**extra) -> dict:
    """This process's environment with the repository importable (and `extra` set)."""
    return dict(os.environ, PYTHONPATH=str(ROOT), **extra)


def _python(*args, **kwargs):
    return subprocess.Popen([sys.executable, *map(str, args)], env=kwargs.pop("env", _env()), **kwargs)


def start_service(log_dir: Path) -> tuple[str, list]:
    """A dispatcher and 2 workers (1 rendering process each) on localhost; returns (address, processes)."""
    port = free_port()
    procs = [_python("-m", "captcha_ocr.data_service", "dispatcher", "--port", port,
                     stdout=open(log_dir / "dispatcher.log", "w"), stderr=subprocess.STDOUT)]
    for i in range(2):
        time.sleep(3 if i == 0 else 0)
        procs.append(_python("-m", "captcha_ocr.data_service", "worker", "--dispatcher", f"127.0.0.1:{port}",
                             "--processes", 1, stdout=open(log_dir / f"worker{i}.log", "w"), stderr=subprocess.STDOUT))
    deadline = time.monotonic() + 120
    while not all("tf.data worker" in (log_dir / f"worker{i}.log").read_text() for i in range(2)):
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise SystemExit(f"the tf.data service did not start; see {log_dir}")
        time.sleep(0.5)
    return f"grpc://127.0.0.1:{port}", procs


def stream_rate(config_path: str, sets: list[str], count: int) -> float:
    """Images/s of the bare training stream (no model), after its first 256 captchas."""
    code = f"""
import time
from captcha_ocr.core.config import load_config
from captcha_ocr.data import pipeline as data
config = load_config({config_path!r}, {["data.train_size=0", *sets]!r})
it = iter(data._stream_elements(config, seed=99))
for _ in range(256): next(it)
t = time.perf_counter()
for _ in range({count}): next(it)
print(time.perf_counter() - t)
"""
    out = subprocess.run([sys.executable, "-c", code], env=_env(), cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return count / float(out.strip().splitlines()[-1])


def training_rate(config_path: str, sets: list[str], steps: int, epochs: int, run_dir: Path,
                  workers: int = 1) -> dict:
    """Training images/s of epochs 2.. (train command), and the first epoch's seconds.

    With `workers` > 1, runs that many processes as a multi-worker cluster on 127.0.0.1.
    """
    args = ["-m", "captcha_ocr.train", "--config", config_path, "--run-dir", run_dir,
            "--set", "data.train_size=0", "--set", f"train.steps_per_epoch={steps}",
            "--set", f"train.epochs={epochs}", "--set", "train.time_budget_min=0", "--set", "train.early_stopping_patience=0"]
    for s in sets:
        args += ["--set", s]
    cluster = {"worker": [f"127.0.0.1:{free_port()}" for _ in range(workers)]}
    procs = []
    for index in range(workers):
        tf_config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        env = _env(TF_CONFIG=json.dumps(tf_config)) if workers > 1 else _env()
        procs.append(_python(*args, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    for proc in procs:
        output = proc.communicate()[0]
        if proc.returncode:
            raise SystemExit(f"training failed:\n{output[-3000:]}")
    rows = list(csv.DictReader(open(run_dir / "history.csv")))
    first, last = rows[0], rows[-1]
    images = float(last["images"]) - float(first["images"])
    return {"images_per_s": images / (float(last["time_s"]) - float(first["time_s"])),
            "first_epoch_s": float(first["time_s"]), "val_captcha_acc": float(last["val_captcha_acc"])}


def main(argv=None) -> int:
    p = parser("python scripts/distribute_benchmark.py", __doc__)
    p.add_argument("--config", default="configs/examples/quickstart_sigmoid.yaml")
    p.add_argument("--out", default="reports/my-distribute")
    p.add_argument("--steps", type=int_at_least(1), default=60, help="steps per epoch")
    p.add_argument("--epochs", type=int_at_least(2), default=3, help="epochs (the first is not timed)")
    p.add_argument("--stream", type=int_at_least(1), default=2048, help="captchas read for the bare stream rates")
    args = p.parse_args(argv)
    out = output_dir(args.out)
    report = {"command": "python scripts/distribute_benchmark.py " + " ".join(sys.argv[1:]),
              "machine": machine_info(), "config": args.config, "steps_per_epoch": args.steps,
              "epochs": args.epochs, "stream": {}, "training": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        address, procs = start_service(tmp)
        try:
            modes = {"local": [], "service": [f"data.service={address}"],
                     "mirrored": ["train.distribute=mirrored", "train.cpu_replicas=2"],
                     "multi_worker": ["train.distribute=multi_worker", "data.workers=1"]}
            for name in ("local", "service"):
                report["stream"][name] = stream_rate(args.config, modes[name], args.stream)
                print(f"stream {name}: {report['stream'][name]:.0f} images/s", flush=True)
            for name, sets in modes.items():
                report["training"][name] = training_rate(args.config, sets, args.steps, args.epochs, tmp / name,
                                                         workers=2 if name == "multi_worker" else 1)
                print(f"training {name}: {report['training'][name]['images_per_s']:.0f} images/s", flush=True)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(30)
    base = report["training"]["local"]["images_per_s"]
    lines = [f"# Distribution overhead: `{args.config}`", "", f"`{report['command']}`", "",
             f"Machine: {report['machine']['cpu']} ({report['machine']['cpu_count']} cores). One run; ratios are "
             "against `local` of the same run.", "",
             markdown_table(["mode", "training images/s", "vs local", "first epoch (s)"],
                            [[name, f"{r['images_per_s']:.0f}", f"{r['images_per_s'] / base:.2f}x",
                              f"{r['first_epoch_s']:.0f}"] for name, r in report["training"].items()], align="lrrr"),
             "", markdown_table(["stream alone (no training)", "images/s"],
                                [[name, f"{rate:.0f}"] for name, rate in report["stream"].items()], align="lr")]
    (out / "distribute.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "distribute.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    run_cli(main)
