"""captcha_ocr.serve: the real service as a process, read over HTTP, against the library's own readings."""

from __future__ import annotations

import base64
import io
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import Server, assert_user_error, run_module, web
from PIL import Image


@pytest.fixture(scope="module")
def server(smoke_run, workdir):
    with Server("--model", smoke_run, "--model", "other=" + str(smoke_run), "--min-confidence", "0.5",
                "--max-images", "8", "--max-body-mb", "1", "--max-pixels", "250000", cwd=workdir) as s:
        yield s


@pytest.fixture(scope="module")
def files(generated_folder):
    return sorted(generated_folder.glob("*.png"))[:6]


@pytest.fixture(scope="module")
def expected(smoke_run, files):
    from captcha_ocr.inference.recognizer import Recognizer

    return Recognizer.load(smoke_run).predict([str(f) for f in files])


def check_reading(result: dict, pred, threshold: float) -> None:
    assert result["text"] == pred.text
    assert result["confidence"] == pytest.approx(pred.confidence, abs=1e-5)
    assert result["abstained"] == (result["confidence"] < threshold)
    chars = "".join(p["char"] for p in result["positions"])
    assert chars == pred.text and len(result["positions"]) == 4


def test_models_and_health(server, smoke_run):
    models = web.get(server.url + "/v1/models").json()
    assert models["default"] == smoke_run.name and [m["name"] for m in models["models"]] == [smoke_run.name, "other"]
    first = models["models"][0]
    assert first["input"] == {"height": 30, "width": 80, "channels": 1, "resize": "stretch"}
    assert first["length"] == {"min": 4, "max": 4} and len(first["charset"]) == 62 and first["loss"] == "sigmoid"
    assert web.get(server.url + "/health").json()["status"] == "ok"


def test_read_multipart_json_and_raw_agree_with_the_library(server, files, expected):
    multipart = [("image", (f.name, f.read_bytes(), "image/png")) for f in files]
    answer = web.post(server.url + "/v1/read", files=multipart).json()
    assert answer["min_confidence"] == 0.5 and [r["file"] for r in answer["results"]] == [f.name for f in files]
    for result, pred in zip(answer["results"], expected):
        check_reading(result, pred, 0.5)

    encoded = [base64.b64encode(f.read_bytes()).decode() for f in files]
    answer = web.post(server.url + "/v1/read", json={"images": encoded, "model": "other", "min_confidence": 0}).json()
    assert answer["model"] == "other"
    for result, pred in zip(answer["results"], expected):
        check_reading(result, pred, 0.0)

    answer = web.post(server.url + "/v1/read?min_confidence=1", content=files[0].read_bytes(),
                        headers={"content-type": "image/png"}).json()
    check_reading(answer["results"][0], expected[0], 1.0)
    assert answer["results"][0]["abstained"] is True


def test_concurrent_requests_share_model_calls(server, files, expected):
    before = web.get(server.url + "/health").json()["models"]["other"]
    body = {"image": base64.b64encode(files[1].read_bytes()).decode(), "model": "other"}
    # No read timeout: 64 requests queue behind one model, and how long the last waits depends on the
    # CPU (httpx's default 5 s timed out on an AVX2-only machine). This test is about batching.
    with httpx.Client(timeout=httpx.Timeout(5.0, read=None)) as client, ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: client.post(server.url + "/v1/read", json=body), range(64)))
    assert all(a.status_code == 200 for a in answers)
    assert {a.json()["results"][0]["text"] for a in answers} == {expected[1].text}
    after = web.get(server.url + "/health").json()["models"]["other"]
    images, calls = after["images"] - before["images"], after["calls"] - before["calls"]
    assert images == 64 and calls < 64  # some requests were read together in one model call


def test_a_bad_image_among_good_ones(server, files, expected):
    multipart = [("image", ("good.png", files[0].read_bytes(), "image/png")),
                 ("image", ("bad.png", b"\x89PNG\r\n\x1a\n broken", "image/png"))]
    answer = web.post(server.url + "/v1/read", files=multipart)
    assert answer.status_code == 200
    good, bad = answer.json()["results"]
    check_reading(good, expected[0], 0.5)
    assert bad["file"] == "bad.png" and "bad.png" in bad["error"] and "text" not in bad


def bad_requests(png: bytes) -> dict:
    """Bad input, the seventeen of old and those issue 28 adds: name -> (request kwargs, expected status)."""
    huge = io.BytesIO()
    Image.new("L", (2000, 2000)).save(huge, format="PNG")  # 4 MP: over this server's 250,000-pixel limit
    tiff = io.BytesIO()
    Image.new("RGB", (80, 30)).save(tiff, format="TIFF")
    b64 = base64.b64encode(png).decode()
    return {
        "truncated": (dict(files={"image": ("t.png", png[: len(png) // 2], "image/png")}), 400),
        "empty file": (dict(files={"image": ("e.png", b"", "image/png")}), 400),
        "text file": (dict(files={"image": ("notes.txt", b"hello, world", "text/plain")}), 400),
        "huge dimensions": (dict(files={"image": ("huge.png", huge.getvalue(), "image/png")}), 413),
        "unsupported format": (dict(files={"image": ("a.tiff", tiff.getvalue(), "image/tiff")}), 400),
        "body over the limit": (dict(content=b"\0" * (2 * 2**20), headers={"content-type": "image/png"}), 413),
        "wrong JSON field": (dict(json={"picture": b64}), 400),
        "JSON not an object": (dict(json=[b64]), 400),
        "broken JSON": (dict(content=b"{\"images\": [", headers={"content-type": "application/json"}), 400),
        "unknown model": (dict(json={"image": b64, "model": "nope"}), 404),
        "base64 garbage": (dict(json={"images": ["@@not base64@@"]}), 400),
        "too many images": (dict(json={"images": [b64] * 9}), 413),
        "threshold out of range": (dict(json={"image": b64, "min_confidence": 7}), 400),
        "path as a file name": (dict(files={"image": ("../../etc/passwd", b"root:x:0:0", "image/png")}), 400),
        "path as base64": (dict(json={"image": "/etc/passwd"}), 400),
        "unsupported content type": (dict(content=b"hello", headers={"content-type": "text/plain"}), 415),
        "no images in the form": (dict(files={"model": (None, "other")}), 400),
        # Issue 28: each of these was a 500, or was taken as valid.
        "empty image list": (dict(json={"images": []}), 400),
        "both images and image": (dict(json={"images": [b64], "image": b64}), 400),
        "threshold true": (dict(json={"image": b64, "min_confidence": True}), 400),
        "threshold as text in JSON": (dict(json={"image": b64, "min_confidence": "0.5"}), 400),
        "threshold null": (dict(json={"image": b64, "min_confidence": None}), 400),
        "model not a string": (dict(json={"image": b64, "model": 7}), 400),
        "empty base64": (dict(json={"image": ""}), 400),
        "images not a list": (dict(json={"images": b64}), 400),
        "image a number": (dict(json={"image": 12}), 400),
        "bad query threshold": (dict(json={"image": b64}, params={"min_confidence": "high"}), 400),
        "unknown model in the query": (dict(json={"image": b64, "model": "other"}, params={"model": "nope"}), 404),
        "empty model name": (dict(files={"image": ("a.png", png, "image/png"), "model": (None, "")}), 404),
        "JSON null": (dict(content=b"null", headers={"content-type": "application/json"}), 400),
        "no content type": (dict(content=png), 415),
        # What a request may tell of its captchas: refused when malformed, or when this model cannot be told it.
        "length told a per-position model": (dict(json={"image": b64, "length": 4}), 400),
        "length zero": (dict(json={"image": b64, "length": "0"}), 400),
        "length null": (dict(json={"image": b64, "length": None}), 400),
        "length a fraction": (dict(json={"image": b64, "length": 4.5}), 400),
        "length in words": (dict(files={"image": ("a.png", png, "image/png"), "length": (None, "four")}), 400),
        "length reversed in the query": (dict(json={"image": b64}, params={"length": "6-4"}), 400),
        "chars empty": (dict(json={"image": b64, "chars": ""}), 400),
        "chars the model does not read": (dict(json={"image": b64, "chars": "é"}), 400),
        "chars not a string": (dict(json={"image": b64, "chars": 7}), 400),
    }


def test_bad_input_battery_gets_clear_4xx_and_the_service_goes_on(server, files):
    png = files[0].read_bytes()
    for name, (kwargs, status) in bad_requests(png).items():
        answer = web.post(server.url + "/v1/read", **kwargs)
        assert answer.status_code == status, (name, answer.status_code, answer.text)
        assert answer.headers["content-type"] == "application/json", name
        message = answer.json()["error"]
        assert isinstance(message, str) and message and "\n" not in message, (name, message)
    for method, path, status in [("GET", "/v1/read", 405), ("TRACE", "/v1/read", 405), ("DELETE", "/health", 405),
                                 ("GET", "/nowhere", 404), ("POST", "/static/label.js", 405)]:
        answer = web.request(method, server.url + path)
        assert answer.status_code == status and "\n" not in answer.json()["error"], (method, path, answer.text)
        if status == 405:
            assert answer.headers["allow"], (method, path)
    assert web.request("TRACE", server.url + "/v1/read").headers["allow"] == "POST"
    assert web.get(server.url + "/health").status_code == 200
    assert web.post(server.url + "/v1/read", files={"image": ("ok.png", png, "image/png")}).status_code == 200
    assert web.get(server.url + "/v1/label/state").status_code == 404  # no labeling folder was given
    assert "/etc" not in server.output()


def test_openapi_docs_are_served_without_network(server):
    spec = web.get(server.url + "/openapi.json").json()
    assert {"/v1/read", "/v1/models", "/health"} <= set(spec["paths"])
    read = spec["paths"]["/v1/read"]["post"]
    assert "multipart/form-data" in read["requestBody"]["content"] and read["requestBody"]["required"]
    as_json = read["requestBody"]["content"]["application/json"]["schema"]
    assert as_json["properties"]["images"]["minItems"] == 1 and as_json["properties"]["images"]["maxItems"] == 8
    assert as_json["properties"]["min_confidence"] == {**as_json["properties"]["min_confidence"], "type": "number",
                                                       "minimum": 0, "maximum": 1}
    assert as_json["properties"]["model"]["enum"] == [server_models(spec)[0], "other"]
    assert set(read["responses"]) == {"200", "400", "403", "404", "408", "413", "415", "500"}  # no 422: it is 400
    assert read["responses"]["400"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert "securitySchemes" not in spec["components"]  # no token: no 401 either
    page = web.get(server.url + "/docs").text
    assert "/docs-assets/swagger-ui-bundle.js" in page and "cdn" not in page
    assert web.get(server.url + "/docs-assets/swagger-ui-bundle.js").status_code == 200


def server_models(spec: dict) -> list[str]:
    return spec["paths"]["/v1/read"]["post"]["parameters"][0]["schema"]["enum"]


def test_command_line_mistakes(smoke_run, workdir):
    assert_user_error(run_module("serve", "--model", workdir / "nope", cwd=workdir), "nope", "not found")
    assert_user_error(run_module("serve", "--model", smoke_run, "--port", "0", cwd=workdir), "--port")
    assert_user_error(run_module("serve", "--model", smoke_run, "--model", smoke_run, cwd=workdir), "two models")
    assert_user_error(run_module("serve", "--model", smoke_run, "--label-folder", workdir / "nowhere", cwd=workdir),
                      "--label-folder")


def test_port_in_use_is_one_line(server, smoke_run, workdir):
    proc = run_module("serve", "--model", smoke_run, "--port", server.port, cwd=workdir)
    assert_user_error(proc, f"127.0.0.1:{server.port}", "--port")


def test_reads_in_views_as_the_library_does(smoke_run, files, workdir):
    from captcha_ocr.inference.recognizer import Recognizer

    paths = [str(f) for f in files]
    in_views, alone = Recognizer.load(smoke_run, 5).predict(paths), Recognizer.load(smoke_run).predict(paths)
    assert [p.confidence for p in in_views] != pytest.approx([p.confidence for p in alone], abs=1e-5)
    with Server("--model", smoke_run, "--views", "5", cwd=workdir) as s:
        assert web.get(s.url + "/v1/models").json()["models"][0]["views"] == 5
        answer = web.post(s.url + "/v1/read", files=[("image", (f.name, f.read_bytes())) for f in files]).json()
        assert "5 views)" in s.output()
    for result, pred in zip(answer["results"], in_views):
        check_reading(result, pred, 0.0)


def test_serves_an_export(smoke_run, files, expected, workdir, tmp_path):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "onnx"
    run_module("export", "--model", smoke_run, "--format", "onnx", "--out", out, cwd=workdir, check=True)
    assert_user_error(run_module("serve", "--model", out, "--views", "9", cwd=workdir), "--views", "export")
    with Server("--model", out, cwd=workdir) as s:
        assert web.get(s.url + "/v1/models").json()["models"][0]["kind"] == "onnx"
        answer = web.post(s.url + "/v1/read", files=[("image", (f.name, f.read_bytes())) for f in files]).json()
        told = web.post(s.url + "/v1/read", files={"image": ("a.png", files[0].read_bytes())}, data={"chars": "ab"})
    assert told.status_code == 400 and "decodes in its graph" in told.json()["error"]
    for result, pred in zip(answer["results"], expected):
        assert result["text"] == pred.text and result["positions"] is None
        assert result["confidence"] == pytest.approx(pred.confidence, abs=1e-4)


def test_reads_told_the_lengths_and_characters_as_the_library_does(files, workdir):
    from captcha_ocr.inference.recognizer import Recognizer

    told = Recognizer.load("base_ctc2", lengths=(6, 6), chars="0123456789").predict([str(f) for f in files])
    assert all(p.text.isdigit() and len(p.text) == 6 for p in told if p.text) and any(p.text for p in told)
    with Server("--model", "base_ctc2", "--length", "6", "--chars", "0123456789", cwd=workdir) as s:
        assert web.get(s.url + "/v1/models").json()["models"][0]["length"] == {"min": 6, "max": 6}
        answer = web.post(s.url + "/v1/read", files=[("image", (f.name, f.read_bytes())) for f in files]).json()
        assert "lengths 6-6, only '0123456789')" in s.output()
    for result, pred in zip(answer["results"], told):
        assert result["text"] == pred.text and result["confidence"] == pytest.approx(pred.confidence, abs=1e-5)
    assert_user_error(run_module("serve", "--model", "base_ctc2", "--chars", "09é", cwd=workdir), "--chars", "'é'")


def test_each_request_may_tell_its_lengths_and_characters(files, workdir):
    from captcha_ocr.inference.recognizer import Recognizer

    paths = [str(f) for f in files]
    told = Recognizer.load("base_ctc2", lengths=(6, 6), chars="0123456789").predict(paths)
    digits = Recognizer.load("base_ctc2", chars="0123456789").predict(paths)
    untold = Recognizer.load("base_ctc2").predict(paths)
    assert [p.text for p in told] != [p.text for p in untold] != [p.text for p in digits]
    multipart = [("image", (f.name, f.read_bytes())) for f in files]
    encoded = [base64.b64encode(f.read_bytes()).decode() for f in files]
    with Server("--model", "base_ctc2", cwd=workdir) as s:
        read = s.url + "/v1/read"
        answers = {
            "form": (web.post(read, files=multipart, data={"length": "6", "chars": "0123456789"}), told),
            "JSON": (web.post(read, json={"images": encoded, "length": 6, "chars": "0123456789"}), told),
            "query": (web.post(read, files=multipart, params={"length": "6-6", "chars": "0123456789"}), told),
            "chars only": (web.post(read, json={"images": encoded, "chars": "0123456789"}), digits),
            "nothing told": (web.post(read, files=multipart), untold),
        }
        too_long = web.post(read, json={"image": encoded[0], "length": "9-11"})
    digits_told = {"length": {"min": 6, "max": 6}, "chars": "0123456789"}
    repeated = {"form": digits_told, "JSON": digits_told, "query": digits_told,
                "chars only": {"chars": "0123456789"}, "nothing told": {}}
    for name, (answer, library) in answers.items():
        assert answer.status_code == 200, (name, answer.text)
        assert {k: v for k, v in answer.json().items() if k in ("length", "chars")} == repeated[name], name
        for result, pred in zip(answer.json()["results"], library, strict=True):
            assert result["text"] == pred.text, name
            assert result["confidence"] == pytest.approx(pred.confidence, abs=1e-5), name
    assert too_long.status_code == 400 and "at most 10 characters" in too_long.json()["error"]
