import numpy as np
import pytest
from PIL import Image

from captcha_ocr.core.charset import Charset
from captcha_ocr.core.errors import UserError
from captcha_ocr.core.spec import InputShape
from captcha_ocr.data.folder import list_folder, load_folder


def write(path, value=128):
    Image.fromarray(np.full((20, 50, 3), value, np.uint8)).save(path)


def test_labels_from_file_names(tmp_path):
    write(tmp_path / "ab12.png")
    write(tmp_path / "ZZ9_003.jpg")
    (tmp_path / "readme.txt").write_text("ignored: not an image")
    assert sorted(label for _, label in list_folder(tmp_path)) == ["ZZ9", "ab12"]
    data = load_folder(tmp_path, Charset(), InputShape(height=16, width=40, channels=1), workers=1)
    assert data.images.shape == (2, 16, 40, 1)
    assert sorted(Charset().decode_batch(data.labels)) == ["ZZ9", "ab12"]
    assert not data.problems


def test_labels_csv_takes_precedence(tmp_path):
    write(tmp_path / "img1.png")
    write(tmp_path / "img2.png")
    (tmp_path / "labels.csv").write_text("file,label\nimg1.png,Ab3\nimg2.png,xyz9\n")
    assert list_folder(tmp_path) == [(str(tmp_path / "img1.png"), "Ab3"), (str(tmp_path / "img2.png"), "xyz9")]


def test_bad_files_and_labels_are_skipped_and_reported(tmp_path):
    write(tmp_path / "ok1.png")
    write(tmp_path / "ok2.png")
    (tmp_path / "brok.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    write(tmp_path / "ab-c.png")  # '-' outside the charset
    write(tmp_path / "toolong.png")  # 7 characters, max is 4
    data = load_folder(tmp_path, Charset(), InputShape(height=16, width=40, channels=1), workers=1)
    assert len(data.paths) == 2
    reasons = dict((p.split("/")[-1], why) for p, why in data.problems)
    assert set(reasons) == {"brok.png", "ab-c.png", "toolong.png"}
    assert "'-' outside the charset" in reasons["ab-c.png"]
    assert "7 characters" in reasons["toolong.png"]
    assert "3 skipped" in data.report()


def test_parallel_loading_matches_serial(tmp_path):
    for i in range(150):
        write(tmp_path / f"a{i % 10}_{i:03d}.png", value=i)
    one = load_folder(tmp_path, Charset(), InputShape(height=16, width=40, channels=1), workers=1)
    two = load_folder(tmp_path, Charset(), InputShape(height=16, width=40, channels=1), workers=2)
    assert np.array_equal(one.images, two.images) and one.paths == two.paths


def test_folder_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        list_folder(tmp_path / "missing")
    with pytest.raises(UserError, match="no labeled images"):
        list_folder(tmp_path)
    (tmp_path / "labels.csv").write_text("name,text\n")
    with pytest.raises(UserError, match="file,label"):
        list_folder(tmp_path)
