"""captcha_ocr.core.cli: the pieces every command shares, and every command's answer to bad input."""

from conftest import SMOKE, assert_user_error, run_module


def test_bad_inputs_give_one_line_and_status_2(smoke_run, workdir, tmp_path):
    typo = tmp_path / "typo.yaml"
    typo.write_text("train:\n  epoch: 3\n")
    not_model = tmp_path / "model.keras"
    not_model.write_text("nope")
    cases = [
        (("train", "--config", tmp_path / "nope.yaml"), ["not found"]),
        (("train", "--config", typo), ["unknown key 'train.epoch'", "did you mean 'train.epochs'"]),
        (("train", "--config", SMOKE, "--set", "loss.name=softmx"), ["did you mean 'softmax'"]),
        (("train", "--config", SMOKE, "--set", "data.source=folder", "--set", f"data.folder={tmp_path / 'none'}",
          "--run-dir", tmp_path / "run"), ["not found"]),
        (("train", "--config", SMOKE, "--run-dir", smoke_run, "--set", "train.epochs=3"),
         ["finished run with a different train config"]),
        (("evaluate", "--model", tmp_path / "no-run"), ["not found"]),
        (("evaluate", "--model", smoke_run, "--data", tmp_path / "no-folder"), ["not found"]),
        (("predict", "--model", not_model, smoke_run / "config.yaml"), ["cannot load"]),
        (("generate", "--config", SMOKE, "--out", tmp_path / "g", "--count", 0), ["--count"]),
        (("train", "--config", SMOKE, "--set", "charset.pad=~"), ["YAML's null"]),
        (("train", "--config", SMOKE, "--set", "model.filters=16,32"), ["--set 'model.filters=[16,32]'"]),
        # fewer blocks: a narrower config of as many blocks takes the source's width instead (tests/test_train.py)
        (("train", "--config", SMOKE, "--init-from", smoke_run, "--set", "model.filters=[4]", "--run-dir",
          tmp_path / "misfit"), ["no layer of that model fits this config (conv1 (shape 3x3x1x8 -> 3x3x1x4)"]),
    ]
    for args, fragments in cases:
        assert_user_error(run_module(*args, cwd=workdir), *fragments)


def test_every_numeric_flag_refuses_zero_negative_and_non_numbers(smoke_run, workdir, tmp_path):
    """Each command's numeric flags, with values they cannot take: one `error:` line naming the flag, exit 2."""
    image = smoke_run / "config.yaml"  # never read: the flags are checked first
    commands = {
        "predict": (["--model", smoke_run, image], {"--batch-size": ["0", "-3", "x"], "--min-confidence": ["-1", "2", "x"]}),
        "evaluate": (["--model", smoke_run], {"--batch-size": ["0", "-3", "x"]}),
        "generate": (["--config", SMOKE, "--out", tmp_path / "g"], {"--count": ["0", "-3", "x"], "--workers": ["-1", "x"]}),
        "compare": (["--configs", SMOKE, "--out", tmp_path / "c"], {"--seeds": ["0", "-3", "x"]}),
        "export": (["--model", smoke_run, "--format", "tflite"], {"--check": ["-1", "x"],
                                                                 "--calibration-count": ["0", "-3", "x"]}),
        "data_service": (["worker", "--dispatcher", "127.0.0.1:1"], {"--port": ["-1", "x"], "--processes": ["-1", "x"]}),
        "train": (["--config", SMOKE, "--run-dir", tmp_path / "t"], {"--teachers": ["1", "-3", "x"]}),
    }
    for command, (base, flags) in commands.items():
        for flag, values in flags.items():
            for value in values:
                proc = run_module(command, *base, flag, value, cwd=workdir, timeout=120)
                assert_user_error(proc, flag)
                assert str(tmp_path / "g") not in proc.stdout and not (tmp_path / "c").exists()
                assert not (tmp_path / "t").exists()


def test_int_at_least_and_fraction_messages():
    import argparse

    import pytest

    from captcha_ocr.core.cli import fraction, int_at_least

    assert int_at_least(1)("7") == 7 and fraction("0.25") == 0.25
    for parse, text, message in [(int_at_least(1), "0", "at least 1, got 0"), (int_at_least(0), "2.5", "whole number"),
                                 (fraction, "1.5", "between 0 and 1"), (fraction, "abc", "between 0 and 1"),
                                 (fraction, "nan", "between 0 and 1")]:
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            parse(text)


def test_output_into_a_closed_pipe_ends_quietly(smoke_run, generated_folder, workdir):
    """`predict ... | head -1`: no traceback when the reader stops early."""
    import subprocess
    import sys

    from conftest import ROOT

    cmd = f"{sys.executable} -m captcha_ocr.predict --model {smoke_run} --batch-size 1 {generated_folder} | head -1"
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=workdir, capture_output=True, text=True,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert len(proc.stdout.splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr
