"""captcha_ocr.core.atomic: a file is replaced whole, or left as it was."""

import pytest

from captcha_ocr.core.atomic import write_atomic, write_text_atomic


def test_replaces_whole_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "labels.csv"
    write_text_atomic(path, "file,label\na.png,ab\n")
    write_text_atomic(path, "file,label\nb.png,cd\n")
    assert path.read_text() == "file,label\nb.png,cd\n"
    assert [p.name for p in tmp_path.iterdir()] == ["labels.csv"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text("old")

    def half_then_fail(tmp):
        tmp.write_text("ne")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        write_atomic(path, half_then_fail)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_keeps_the_suffix_for_writers_that_add_one(tmp_path):
    import numpy as np

    path = tmp_path / "set.npz"
    write_atomic(path, lambda tmp: np.savez(tmp, x=np.arange(3)))  # np.savez appends .npz to other names
    with np.load(path) as data:
        assert data["x"].tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["set.npz"]


def test_stale_temporaries_are_those_of_processes_no_longer_running(tmp_path):
    import os
    import subprocess
    import sys

    from captcha_ocr.core.atomic import stale_temporaries, temporary_path

    target = tmp_path / "labels.csv"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mine = temporary_path(target)  # this process's own: in use
    assert mine.name.startswith(f".labels.{os.getpid()}-")
    theirs = tmp_path / f".labels.{dead.pid}-7.tmp.csv"
    other_file = tmp_path / f".other.{dead.pid}-7.tmp.csv"  # another target's
    not_ours = tmp_path / ".labels.x-7.tmp.csv"  # not a name temporary_path makes
    for path in (mine, theirs, other_file, not_ours):
        path.write_text("file,label\n")
    assert stale_temporaries(target) == [theirs]
