"""scripts/benchmark.py and scripts/time_to_accuracy.py as a user runs them, and the FLOP counter by hand.

No test asserts a timing value: the machine decides those. They check that
every metric is measured (a positive number), that the files are written,
and that the curve counts images and respects the budget.
"""

import csv
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import keras
import matplotlib
import pytest
from conftest import ROOT, SMOKE, assert_user_error, markdown_rows, needs_bfloat16

from captcha_ocr.core.config import load_config
from captcha_ocr.core.machine import bfloat16_aborts
from captcha_ocr.model.build import build_model

SCRIPTS = ROOT / "scripts"

BENCHMARK_METRICS = (
    "generator_1proc_images_per_s", "generator_pool_images_per_s", "generator_pool_speedup", "generator_pool_startup_s",
    "folder_write_images_per_s", "folder_load_images_per_s", "folder_pipeline_images_per_s",
    "data_build_s", "train_images_per_s_pipeline", "train_images_per_s_memory", "train_pipeline_to_memory_ratio",
    "model_params", "model_forward_mflop_per_image", "train_gflops_per_s", "train_gflops_per_s_pipeline",
    "matmul_gflops_per_s", "train_to_matmul_ratio",
    "train_images_per_s_memory_keras_batchnorm", "train_keras_batchnorm_speed_ratio",
    "train_images_per_s_memory_xla", "train_xla_speed_ratio",
    "train_images_per_s_memory_mixed_bfloat16", "train_mixed_bfloat16_speed_ratio",
    "predict_latency_median_ms", "predict_latency_p99_ms", "predict_batch_images_per_s", "model_file_mb",
    "peak_rss_mib", "peak_rss_generator_worker_mib",
) + tuple(f"export_{fmt}_{what}" for fmt in ("savedmodel", "tflite", "tflite_int8", "onnx")
          for what in ("latency_median_ms", "latency_p99_ms", "batch_images_per_s", "size_mb"))


def run_script(name: str, *args, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python scripts/<name> args...` as a real process in `cwd`, the repo on PYTHONPATH."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, str(SCRIPTS / name), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"


def _load_script(name: str):
    """Import scripts/<name>.py as a module (scripts/ is not a package)."""
    module_name = f"scripts_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, SCRIPTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def _read_curve(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# ---------------------------------------------------------------- FLOP counter


def test_flop_counter_matches_a_hand_count():
    count_flops = _load_script("benchmark").count_flops
    inputs = keras.Input((6, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, name="c1")(inputs)  # -> 6x8x4
    x = keras.layers.Conv2D(3, 3, strides=2, name="c2")(x)  # valid: (6-3)//2+1=2, (8-3)//2+1=3 -> 2x3x3
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Flatten()(x)  # 18
    x = keras.layers.Dense(5, name="d1")(x)
    x = keras.layers.Reshape((5, 1))(x)
    x = keras.layers.Dense(2, name="d2")(x)  # applied at 5 positions
    flops = count_flops(keras.Model(inputs, x))
    assert flops == {
        "c1": 2 * 6 * 8 * 3 * 3 * 1 * 4,  # 3456
        "c2": 2 * 2 * 3 * 3 * 3 * 4 * 3,  # 1296
        "d1": 2 * 18 * 5,  # 180
        "d2": 2 * 1 * 2 * 5,  # 20
    }


def test_flop_counter_on_the_smoke_model():
    count_flops = _load_script("benchmark").count_flops
    # smoke: 30x80x1 input, blocks of 8 and 16 filters (3x3 same, 2x2 max-pool), 4x63 logits.
    expected = {
        "conv1": 2 * 30 * 80 * 9 * 1 * 8,
        "conv2": 2 * 15 * 40 * 9 * 8 * 16,
        "logits": 2 * (7 * 20 * 16) * (4 * 63),
    }
    assert count_flops(build_model(load_config(SMOKE))) == expected


# ---------------------------------------------------------------- benchmark


def test_benchmark_quick_measures_every_metric(tmp_path):
    out = tmp_path / "bench"
    proc = run_script("benchmark.py", "--config", SMOKE, "--quick", "--out", out, cwd=tmp_path)
    _ok(proc)
    report = json.loads((out / "benchmark.json").read_text())
    # Where bfloat16 cannot run (conftest.needs_bfloat16) the smoke config's float32 has no bfloat16 variant.
    no_bf16 = {"train_images_per_s_memory_mixed_bfloat16", "train_mixed_bfloat16_speed_ratio"}
    expected = [name for name in BENCHMARK_METRICS if not (bfloat16_aborts() and name in no_bf16)]
    assert not (bfloat16_aborts() and no_bf16 & set(report["metrics"]))
    for name in expected:
        metric = report["metrics"].get(name)
        assert metric is not None, f"{name} missing from benchmark.json"
        assert isinstance(metric["value"], float) and math.isfinite(metric["value"]) and metric["value"] > 0, (name, metric)
        assert metric["unit"] and metric["how"], name
    assert report["metrics"]["model_forward_mflop_per_image"]["value"] == pytest.approx(
        (2 * 30 * 80 * 9 * 8 + 2 * 15 * 40 * 9 * 8 * 16 + 2 * 2240 * 252) / 1e6)
    for key in ("cpu_count", "platform", "tensorflow"):
        assert report["machine"][key]
    table = (out / "benchmark.md").read_text()
    for name in expected:
        assert name in {row[0] for row in markdown_rows(table)} and name in {row[0] for row in markdown_rows(proc.stdout)}
    # The per-layer profile: every layer with work in it, timed, set against the measured step.
    profile = report["profile"]
    rows = {r["layer"]: r for r in profile["rows"]}
    assert {"conv1", "bn1", "act1", "pool1", "conv2", "bn2", "act2", "pool2", "logits"} <= set(rows)
    assert not {"flatten", "positions", "spec"} & set(rows)
    assert all(r["ms"] > 0 for r in rows.values())
    # conv1 reads the image: no input gradient, so forward + weight gradient only.
    assert rows["conv1"]["mflop"] == pytest.approx(2 * 2 * 30 * 80 * 9 * 8 * 32 / 1e6)
    assert rows["conv2"]["mflop"] == pytest.approx(3 * 2 * 15 * 40 * 9 * 8 * 16 * 32 / 1e6)
    assert rows["bn1"]["mflop"] == 0
    assert profile["step_ms"] == pytest.approx(32 / report["metrics"]["train_images_per_s_memory"]["value"] * 1000)
    assert profile["rest_ms"] == pytest.approx(profile["step_ms"] - sum(r["ms"] for r in rows.values()))
    assert "## Where a training step's time goes" in table and ["conv2", "Conv2D"] in [r[:2] for r in markdown_rows(table)]
    # Both kinds of CPU, in one run: native and AVX2-capped, float32 and auto, each measured in its own process.
    from captcha_ocr.core.machine import choose_precision

    isas = {(r["isa"], r["asked"]): r for r in report["isas"]}
    assert set(isas) == {(i, p) for i in ("native", "AVX2") for p in ("float32", "auto")}
    assert isas["AVX2", "float32"]["onednn_isa"] == "Intel AVX2"  # the cap took effect: oneDNN says so
    assert isas["AVX2", "auto"]["precision"] == "float32"  # emulated bfloat16 is never chosen
    assert isas["native", "auto"]["precision"] == choose_precision("auto").precision
    assert isas["native", "float32"]["train_vs_native_float32"] == 1.0
    assert all(r["train_images_per_s"] > 0 and r["predict_batch_images_per_s"] > 0 for r in isas.values())
    assert "## Both kinds of CPU" in table and "AVX2" in {row[0] for row in markdown_rows(table)}


@needs_bfloat16
def test_benchmark_quick_on_a_mixed_precision_ctc_model(tmp_path):
    """The quickstart's kind of model: no XLA variant (XLA cannot compile ctc_loss), float32 exports."""
    out = tmp_path / "bench"
    proc = run_script("benchmark.py", "--config", SMOKE, "--quick", "--set", "loss.name=ctc", "--set", "model.rnn_units=8",
                      "--set", "train.precision=mixed_bfloat16", "--out", out, "--no-isas", cwd=tmp_path)
    _ok(proc)
    metrics = json.loads((out / "benchmark.json").read_text())["metrics"]
    expected = set(BENCHMARK_METRICS) - {"train_images_per_s_memory_xla", "train_xla_speed_ratio",
                                         "train_images_per_s_memory_mixed_bfloat16", "train_mixed_bfloat16_speed_ratio"}
    assert expected | {"train_images_per_s_memory_float32", "train_float32_speed_ratio"} == set(metrics)
    assert all(metrics[f"export_{fmt}_batch_images_per_s"]["value"] > 0 for fmt in ("savedmodel", "tflite", "onnx"))


def test_benchmark_bad_inputs_are_one_line_errors(tmp_path):
    assert_user_error(run_script("benchmark.py", "--config", tmp_path / "nope.yaml", "--quick", cwd=tmp_path),
                      "nope.yaml", "not found")
    assert_user_error(run_script("benchmark.py", "--config", SMOKE, "--model", tmp_path / "no-run", cwd=tmp_path),
                      "--model", "not found")


# ---------------------------------------------------------------- time to accuracy


def test_time_to_accuracy_writes_curve_plot_and_summary(tmp_path):
    out = tmp_path / "tta"
    proc = run_script("time_to_accuracy.py", "--config", SMOKE, "--budget-min", 1, "--set", "train.epochs=2",
                      "--target", 0.5, "--out", out, cwd=tmp_path)
    _ok(proc)
    rows = _read_curve(out / "curve.csv")
    # One point before training and one per epoch; the smoke pool is 256 captchas = 8 steps of 32.
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert [int(r["images"]) for r in rows] == [0, 256, 512]
    walls = [float(r["wall_s"]) for r in rows]
    assert 0 < walls[0] < walls[1] < walls[2], "the first point comes after the data and model are built"
    for r in rows:
        assert 0 <= float(r["test_captcha_acc"]) <= 1 and 0 <= float(r["test_char_acc"]) <= 1
    assert (out / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["final"]["images"] == 512 and summary["final"]["wall_s"] == walls[-1]
    assert summary["stopped_by_budget"] is False
    assert summary["test_size"] == 64 and summary["best_val_model_test"]["count"] == 64
    assert (out / "run" / "metrics.json").is_file() and (out / "run" / "history.csv").is_file()
    assert not (out / "cache").exists(), "the fresh cache is removed at the end"
    assert not (tmp_path / "data" / "cache").exists(), "data is rendered on the clock, not read from data.cache_dir"
    # A second measurement into the same folder would mix two clocks.
    assert_user_error(run_script("time_to_accuracy.py", "--config", SMOKE, "--out", out, cwd=tmp_path),
                      "already holds", "--restart")


def test_time_to_accuracy_stops_at_the_budget(tmp_path):
    out = tmp_path / "tta"
    # 0.001 min is over before training starts: the first batch is the last one.
    proc = run_script("time_to_accuracy.py", "--config", SMOKE, "--budget-min", 0.001, "--out", out, cwd=tmp_path)
    _ok(proc)
    rows = _read_curve(out / "curve.csv")
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert int(rows[-1]["images"]) == 32
    assert json.loads((out / "summary.json").read_text())["stopped_by_budget"] is True


def test_time_to_accuracy_bad_inputs_are_one_line_errors(tmp_path):
    assert_user_error(run_script("time_to_accuracy.py", "--config", SMOKE, "--budget-min", 0, cwd=tmp_path),
                      "--budget-min")
    assert_user_error(run_script("time_to_accuracy.py", "--config", SMOKE, "--target", 95, cwd=tmp_path), "--target")


# ---------------------------------------------------------------- load test of the HTTP service


@pytest.mark.parametrize("threads", [1, 2])
def test_load_test_measures_the_service_and_its_bad_input_battery(smoke_run, tmp_path, threads):
    out = tmp_path / "load"
    proc = run_script("load_test.py", "--model", smoke_run, "--levels", 1, 4, "--seconds", 1, "--max-requests", 40,
                      "--model-threads", threads, "--out", out, cwd=tmp_path)
    _ok(proc)
    results = json.loads((out / "load.json").read_text())
    assert [r["images_per_s"] > 0 for r in results["model_batch_runs"]] == [True, True]  # before and after
    assert results["model_batch"]["images_per_s"] == max(r["images_per_s"] for r in results["model_batch_runs"])
    assert [lv["concurrency"] for lv in results["levels"]] == [1, 4] and results["model_threads"] == threads
    for level in results["levels"]:
        assert 0 < level["requests"] <= 40 and level["errors"] == 0 and level["p50_ms"] <= level["p99_ms"]
        model_rate = results["model_batch"]["images_per_s"]
        assert level["ratio_to_model"] == pytest.approx(level["requests_per_s"] / model_rate)
        assert level["steal"] is None or 0 <= level["steal"] <= 1
    assert len(results["battery"]) >= 10 and all(400 <= r["status"] < 500 for r in results["battery"])
    assert results["after_battery"] == {"health_status": 200, "reads_ok": True}
    report = (out / "load.md").read_text()
    assert f"--model-threads {threads}" in report and "4" in {row[0] for row in markdown_rows(report)}


# ---------------------------------------------------------------- external benchmark


def test_external_benchmark_scores_our_model_and_ddddocr_against_the_labels(smoke_run, generated_folder, tmp_path):
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    (zoo / "mine").symlink_to(generated_folder)
    proc = run_script("external_benchmark.py", "--zoo", zoo, "--styles", "mine", "--model", smoke_run,
                      "--out", tmp_path / "report", cwd=tmp_path)
    _ok(proc)
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    row = report["styles"]["mine"]["ours"]
    assert row["count"] == 24
    # Recomputed by hand from the smoke model's own readings of the same files.
    from captcha_ocr import Recognizer
    from captcha_ocr.data.folder import list_folder

    items = list_folder(generated_folder)
    texts = [p.text for p in Recognizer.load(smoke_run).predict([p for p, _ in items])]
    labels = [label for _, label in items]
    assert row["whole"] == sum(t == lab for t, lab in zip(texts, labels)) / 24
    assert row["whole_nocase"] == sum(t.lower() == lab.lower() for t, lab in zip(texts, labels)) / 24
    assert "| mine " in (tmp_path / "report" / "report.md").read_text()
    if importlib.util.find_spec("ddddocr"):
        assert set(report["styles"]["mine"]) == {"ours", "ddddocr", "ddddocr_beta"}
    _ok(run_script("external_benchmark.py", "--zoo", zoo, "--styles", "mine", "--model", smoke_run, "--no-ddddocr",
                   "--out", tmp_path / "ours-only", cwd=tmp_path))
    assert set(json.loads((tmp_path / "ours-only" / "report.json").read_text())["styles"]["mine"]) == {"ours"}
    # --held: a ctc model also reads each style held to its labels' lengths (4 here), as predict --length 4 does;
    # --chars: held, and reading only the characters its labels use, as predict --chars does.
    _ok(run_script("external_benchmark.py", "--zoo", zoo, "--styles", "mine", "--model", "base_ctc2", "--no-ddddocr",
                   "--held", "--chars", "--out", tmp_path / "held", cwd=tmp_path))
    row = json.loads((tmp_path / "held" / "report.json").read_text())["styles"]["mine"]
    used = "".join(sorted(set("".join(labels))))
    for name, reader in (("ours_held", Recognizer.load("base_ctc2", lengths=(4, 4))),
                         ("ours_chars", Recognizer.load("base_ctc2", lengths=(4, 4), chars=used))):
        texts = [p.text for p in reader.predict([p for p, _ in items])]
        assert row[name]["whole"] == sum(t == lab for t, lab in zip(texts, labels)) / 24
        assert row[name]["examples"] == [[lab, t] for lab, t in zip(labels[:5], texts[:5])]
        assert row[name]["whole"] >= row["ours"]["whole"] and f"`{name}`" in (tmp_path / "held" / "report.md").read_text()
    # Labels longer than the model reads (base_ctc2: 10) and with characters it does not know: it is told what it
    # can read, and the style is scored, not refused.
    (zoo / "long").mkdir()
    rows = ["file,label"] + [f"{Path(p).name},{label * 3}!" for p, label in items]  # 13 characters
    for p, _ in items:
        (zoo / "long" / Path(p).name).symlink_to(p)
    (zoo / "long" / "labels.csv").write_text("\n".join(rows) + "\n")
    _ok(run_script("external_benchmark.py", "--zoo", zoo, "--styles", "long", "--model", "base_ctc2", "--no-ddddocr",
                   "--held", "--chars", "--out", tmp_path / "long-report", cwd=tmp_path))
    row = json.loads((tmp_path / "long-report" / "report.json").read_text())["styles"]["long"]
    assert row["ours_held"]["count"] == 24 and row["ours_chars"]["whole"] == 0.0
    assert all(len(read) == 10 or not read for _, read in row["ours_held"]["examples"]), row["ours_held"]["examples"]


def test_external_benchmark_char_accuracy_by_hand():
    eb = _load_script("external_benchmark")
    assert eb.char_accuracy(["abcd", "ab"], ["abcx", "abc"]) == 5 / 7
    assert eb.scores(["AbC", "x"], ["abc", "x"]) == {"count": 2, "whole": 0.5, "whole_nocase": 1.0, "char": 2 / 4}


def test_ddddocr_told_the_characters_reads_each_frames_most_probable_of_them_by_hand():
    eb = _load_script("external_benchmark")
    charset = ["", "m", "1", "2"]  # ddddocr's blank is "" at index 0
    frames = [[0.1, 0.1, 0.8, 0.0],   # 1
              [0.2, 0.7, 0.0, 0.1],   # m; without it the blank
              [0.0, 0.6, 0.1, 0.3],   # m (merged with the frame before); without it 2
              [0.0, 0.0, 0.1, 0.9],   # 2
              [0.9, 0.0, 0.1, 0.0]]   # the blank
    result = {"charset": charset, "probabilities": [[f] for f in frames]}  # (frames, 1, classes) as ddddocr gives
    assert eb.ddddocr_only(result, "12") == "12"
    assert eb.ddddocr_only(result, "m12") == "1m2"
    assert eb.ddddocr_only(result, "2") == "2"


def test_external_benchmark_names_a_missing_style(tmp_path):
    proc = run_script("external_benchmark.py", "--zoo", tmp_path, "--styles", "nope", "--out", tmp_path / "r",
                      cwd=tmp_path)
    assert_user_error(proc, "no folder nope under")


def test_glyphs_alike_flags_pairs_by_their_ink_on_one_baseline(tmp_path):
    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    proc = run_script("glyphs_alike.py", font, "50", "OQoEF", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    pairs = {line.split()[0]: float(line.split()[2]) for line in proc.stdout.splitlines()}
    # Q is O with a tail; o is an O of x-height on the same baseline (apart); E and F differ by a bar
    assert set(pairs) == {"OQ"} and 0.9 < pairs["OQ"] < 1
    loose = run_script("glyphs_alike.py", font, "50", "OQoEF", "--min-iou", "0.5", cwd=tmp_path).stdout
    assert "EF" in loose and "Oo" not in loose
    for args, why in (((tmp_path / "nope.ttf", "50"), "cannot read font"), ((font, "50", "O Q"), "draws no ink")):
        proc = run_script("glyphs_alike.py", *args, cwd=tmp_path)
        assert proc.returncode == 2 and why in proc.stderr and "Traceback" not in proc.stderr, args


def test_glyphs_alike_in_a_rotated_tile_finds_the_pairs_its_corners_cut_alike(tmp_path):
    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    upright = run_script("glyphs_alike.py", font, "50", "ijE", "--tile", "55", "--angles", "0", "0",
                         "--min-iou", "0.95", cwd=tmp_path)
    assert upright.returncode == 0, upright.stderr
    assert upright.stdout == ""  # upright, the tile keeps j's hook
    rotated = run_script("glyphs_alike.py", font, "50", "ijE", "--tile", "55", "--min-iou", "0.95", cwd=tmp_path)
    pairs = {line.split()[0]: int(line.split()[3]) for line in rotated.stdout.splitlines()}
    # turned, the hook in the tile's bottom-left corner is cut off and j draws the pixels of an i
    assert set(pairs) == {"ij"} and 30 <= pairs["ij"] < 121, rotated.stdout
    proc = run_script("glyphs_alike.py", font, "50", "ij", "--tile", "55", "--angles", "90", "-30", cwd=tmp_path)
    assert proc.returncode == 2 and "FROM <= TO" in proc.stderr and "Traceback" not in proc.stderr


def test_extra_fonts_links_fonts_with_their_own_lower_case_only(tmp_path):
    from fontTools.ttLib import TTFont

    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    (fonts / "DejaVuSans.ttf").write_bytes((ttf / "DejaVuSans.ttf").read_bytes())
    (fonts / "cmsy10.ttf").write_bytes((ttf / "cmsy10.ttf").read_bytes())  # TeX symbols at the letters' codes
    caps = TTFont(ttf / "DejaVuSans.ttf")  # an all-caps font: each lower-case glyph drawn as its capital
    for c in "abcdefghijklmnopqrstuvwxyz":
        caps["glyf"][c] = caps["glyf"][c.upper()]
        caps["hmtx"][c] = caps["hmtx"][c.upper()]
    caps.save(fonts / "Caps.ttf")
    proc = run_script("extra_fonts.py", "--out", tmp_path / "extra", fonts, cwd=tmp_path)
    _ok(proc)
    assert sorted(p.name for p in (tmp_path / "extra").iterdir()) == ["DejaVuSans.ttf"]
    assert "1 of 3 fonts linked" in proc.stdout
    proc = run_script("extra_fonts.py", "--out", tmp_path / "extra", tmp_path / "nope", cwd=tmp_path)
    assert proc.returncode == 2 and "no such font folder" in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------- length-held ctc decoding

def test_length_decode_reads_a_runs_own_test_set_as_evaluate_does_and_refuses_a_per_position_run(tmp_path):
    import json

    from conftest import run_module

    ctc, sigmoid = tmp_path / "runs" / "ctc", tmp_path / "runs" / "sigmoid"
    for run_dir, loss in ((ctc, "ctc"), (sigmoid, "sigmoid")):
        # digits and 8 epochs: enough for the smoke model to read some characters right
        run_module("train", "--config", SMOKE, "--run-dir", run_dir, "--set", f"loss.name={loss}", "--set",
                   "charset.chars=0123456789", "--set", "train.epochs=8", "--set", "train.learning_rate=0.003",
                   cwd=tmp_path, check=True)
    proc = run_script("length_decode.py", ctc, "test", cwd=tmp_path)
    _ok(proc)
    line = next(x for x in proc.stdout.splitlines() if " on test: " in x)
    greedy = float(line.split("whole-captcha greedy ")[1].split("%")[0]) / 100
    held = float(line.split("lengths held ")[1].split("%")[0]) / 100
    test = json.loads((ctc / "metrics.json").read_text())["test"]  # evaluate's report of the held reads
    assert f"{test['count']} captchas, lengths 4-4" in line
    assert held == pytest.approx(test["captcha_acc"], abs=5e-5)
    per_char = float(line.split(", held ")[1].split("%")[0]) / 100
    assert per_char == pytest.approx(test["char_acc"], abs=5e-5) and per_char > 0.02, "the same reads as evaluate's"
    outside = int(line.split("; ")[1].split(" greedy reads")[0])
    assert held >= greedy and outside > 0, line
    proc = run_script("length_decode.py", sigmoid, "test", cwd=tmp_path)
    assert proc.returncode == 2 and "only ctc reads have a free length" in proc.stderr and "Traceback" not in proc.stderr
    for args in ((tmp_path / "nope", "test"), (ctc, tmp_path / "no-folder")):
        proc = run_script("length_decode.py", *args, cwd=tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        named = "nope" if args[1] == "test" else "no-folder"
        assert any(x.startswith("error:") and named in x for x in proc.stderr.splitlines()), proc.stderr


def test_decode_latency_times_the_three_ctc_decoders_on_a_shipped_model_and_refuses_a_per_position_one(tmp_path):
    proc = run_script("decode_latency.py", "--repeats", "2", cwd=tmp_path)
    _ok(proc)
    rows = markdown_rows(proc.stdout)
    assert rows[0][:2] == ["decoding", "batch"], proc.stdout
    timed = {(row[0], row[1]): [float(cell) for cell in row[2:]] for row in rows[1:]}
    names = ("greedy", "held (exports)", "search on every read")
    assert set(timed) == {(name, batch) for name in names for batch in ("1", "64")}, proc.stdout
    assert all(len(cells) == 3 and min(cells) > 0 for cells in timed.values()), proc.stdout
    assert "lengths 1..10" in proc.stdout, "base_ctc2's charset"
    assert_user_error(run_script("decode_latency.py", "--model", "base", cwd=tmp_path), "one class per position", "ctc")
    assert_user_error(run_script("decode_latency.py", "--model", str(tmp_path / "nope"), cwd=tmp_path), "nope")
