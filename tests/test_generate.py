"""captcha_ocr.generate: labeled folders and contact sheets, written by the real command."""

from conftest import SMOKE, run_module
from PIL import Image


def test_generate_writes_labeled_pngs_reproducibly(generated_folder, workdir):
    files = sorted(generated_folder.glob("*.png"))
    assert len(files) == 24
    for f in files:
        label = f.stem.split("_")[0]
        assert len(label) == 4 and label.isalnum()
        assert Image.open(f).size == (160, 60)
    again = workdir / "generated-again"
    run_module("generate", "--config", SMOKE, "--out", again, "--count", 24, "--seed", 7, "--workers", 1,
               cwd=workdir, check=True)
    assert [f.read_bytes() for f in files] == [f.read_bytes() for f in sorted(again.glob("*.png"))]


def test_preview_contact_sheet(workdir, tmp_path):
    out = tmp_path / "sheet.png"
    run_module("generate", "--config", SMOKE, "--preview", out, "--count", 10, cwd=workdir, check=True)
    from PIL import Image

    sheet = Image.open(out)
    assert sheet.size[0] > 5 * 160 and sheet.size[1] > 2 * 60
