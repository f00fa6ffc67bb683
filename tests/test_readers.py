"""captcha_ocr.inference.readers: any model behind one interface, and reading files past the bad ones."""

from captcha_ocr import Recognizer
from captcha_ocr.core.errors import UserError
from captcha_ocr.inference.readers import load_reader


def test_read_files_goes_on_past_a_bad_file_and_reads_as_the_recognizer_does(smoke_run, generated_folder, tmp_path):
    good = sorted(str(p) for p in generated_folder.glob("*.png"))[:3]
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n no more")
    paths = [good[0], str(bad), good[1], good[2]]
    results = list(load_reader(smoke_run).read_files(paths, batch_size=2))
    # A batch's errors come as its files are prepared, then its readings; every path once.
    assert [p for p, _ in results] == [str(bad), good[0], good[1], good[2]]
    assert isinstance(results[0][1], UserError) and "broken.png" in str(results[0][1])
    expected = Recognizer.load(smoke_run).predict(good)
    assert [r.text for _, r in results[1:]] == [e.text for e in expected]
    assert [round(r.confidence, 6) for _, r in results[1:]] == [round(e.confidence, 6) for e in expected]
