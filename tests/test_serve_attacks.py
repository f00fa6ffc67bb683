"""The service as an attacker would try it, as real requests to a real server (issue 28).

Cross-site writes (another Origin, text/plain, no body, a foreign Host), labels that are not labels
(the pad, formulas, control characters), an empty reading asked for confidence, idle, slow and lying
connections, links out of the labeling folder and a killed server's leftovers. Each refusal is a
4xx with a one-line JSON error, and labels.csv does not change.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time

import httpx
import pytest
from conftest import Server, assert_user_error, run_module, web
from PIL import Image

from captcha_ocr.data.folder import read_labels_csv

REQUEST_TIMEOUT = 2  # the server's --request-timeout in these tests
MAX_CONNECTIONS = 60
IDLE_TIMEOUT = 5  # the service's idle deadline (serve.__main__.IDLE_TIMEOUT)
TOKEN = "test-token-0123456789abcdef"


@pytest.fixture(scope="module")
def blank_model(tmp_path_factory):
    from test_serve_empty_readings import blank_ctc_model

    return blank_ctc_model(tmp_path_factory.mktemp("blank") / "blank.keras")


@pytest.fixture(scope="module")
def lab(generated_folder, tmp_path_factory):
    """Eight captchas, two labels already given, a link to an image outside the folder, and the temporary
    labels.csv of a server killed while writing."""
    folder = tmp_path_factory.mktemp("attacks") / "lab"
    folder.mkdir()
    images = sorted(generated_folder.glob("*.png"))
    for i, f in enumerate(images[:8]):
        shutil.copy(f, folder / f"c{i}.png")
    (folder / "outside.png").symlink_to(images[9])
    (folder / "labels.csv").write_text("file,label\nc0.png,Ab12\nc1.png,Cd34\n")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (folder / f".labels.{dead.pid}-140000.tmp.csv").write_text("file,label\nc0.png,half")
    return folder


@pytest.fixture(scope="module")
def server(smoke_run, blank_model, lab, workdir):
    with Server("--model", smoke_run, "--model", f"blank={blank_model[0]}", "--label-folder", lab,
                "--request-timeout", REQUEST_TIMEOUT, "--max-connections", MAX_CONNECTIONS, cwd=workdir) as s:
        yield s


def one_line_error(answer: httpx.Response, status: int) -> str:
    assert answer.status_code == status, (answer.status_code, answer.text)
    assert answer.headers["content-type"] == "application/json"
    message = answer.json()["error"]
    assert message and "\n" not in message
    return message


def raw_exchange(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Send raw bytes, return everything the server sent until it closed (or `timeout`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def parse(raw: bytes) -> tuple[int, dict, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict((k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:]))
    return int(lines[0].split()[1]), headers, body


def test_a_killed_servers_temporary_file_is_removed_and_links_out_of_the_folder_are_not_served(server, lab):
    assert not list(lab.glob(".labels.*.tmp.csv"))
    state = web.get(server.url + "/v1/label/state").json()
    assert state["total"] == 8 and "outside.png" not in json.dumps(state)
    one_line_error(web.get(server.url + "/v1/label/images/outside.png"), 404)
    one_line_error(web.post(server.url + "/v1/label/images/outside.png", json={"text": "Ab12"}), 404)
    one_line_error(web.post(server.url + "/v1/label/skip", json={"file": "outside.png"}), 404)
    spec = web.get(server.url + "/openapi.json").json()
    files = spec["paths"]["/v1/label/images/{file}"]["get"]["parameters"][0]["schema"]["enum"]
    assert files == [f"c{i}.png" for i in range(8)]
    assert web.get(server.url + "/v1/label/images/c2.png").status_code == 200


def test_writes_from_another_site_or_not_json_are_refused(server, lab):
    url = server.url
    own = {"Origin": url}
    given = web.post(url + "/v1/label/images/c3.png", json={"text": "Ef56"}, headers=own)  # the page's own
    assert given.status_code == 200, given.text  # ... so undo has a label to take back
    csv_before = (lab / "labels.csv").read_bytes()
    state_before = web.get(url + "/v1/label/state").json()
    body = json.dumps({"text": "HACK"})
    routes = {"undo": ("/v1/label/undo", "{}"), "label": ("/v1/label/images/c4.png", body),
              "skip": ("/v1/label/skip", json.dumps({"file": state_before["item"]["file"]}))}
    json_type = {"Content-Type": "application/json"}
    refused_before = server.output().count("refused POST /v1/label/undo")
    attacks = {
        "another origin": lambda b: {"headers": {**json_type, "Origin": "http://127.0.0.1:9"}, "content": b},
        "another origin, no body": lambda b: {"headers": {"Origin": "http://evil.example"}},
        "origin null": lambda b: {"headers": {**json_type, "Origin": "null"}, "content": b},
        "text/plain": lambda b: {"headers": {"Content-Type": "text/plain"}, "content": b},
        "form": lambda b: {"headers": {"Content-Type": "application/x-www-form-urlencoded"}, "content": b"text=HACK"},
        "no body": lambda b: {},
        "cross-site fetch": lambda b: {"headers": {**json_type, "Sec-Fetch-Site": "same-site"}, "content": b},
        "foreign Host": lambda b: {"headers": {**json_type, "Host": "evil.example"}, "content": b},
        "rebound Host with its own Origin": lambda b: {
            "headers": {**json_type, "Host": f"evil.example:{server.port}", "Origin": f"http://evil.example:{server.port}"},
            "content": b},
    }
    for route, (path, payload) in routes.items():
        for name, request in attacks.items():
            answer = web.post(url + path, **request(payload))
            one_line_error(answer, 403)
            assert (lab / "labels.csv").read_bytes() == csv_before, (route, name)
    assert web.get(url + "/v1/label/state").json() == state_before  # nothing skipped or undone either
    one_line_error(web.get(url + "/v1/label/state", headers={"Host": "evil.example"}), 403)  # reads too
    assert server.output().count("refused POST /v1/label/undo") - refused_before == len(attacks)  # each logged
    # The page's own origin, under any name of this server, still writes.
    local = web.post(f"http://localhost:{server.port}/v1/label/undo", json={},
                       headers={"Origin": f"http://localhost:{server.port}"})
    assert local.status_code == 200 and local.json()["labeled"] == 2
    assert dict(read_labels_csv(lab / "labels.csv")) == {"c0.png": "Ab12", "c1.png": "Cd34"}


@pytest.mark.parametrize("text, named", [
    ("A_B", "'_'"), ("=1+1", "'='"), ("+SUM(1)", "'+'"), ("-x1", "'-'"), ("@x1", "'@'"),
    ('=HYPERLINK("http://x")', "'='"), ("A\x07B", "'\\x07'"), ("A\u200bB", "'\\u200b'"), ("A B", "' '"),
])
def test_labels_that_are_not_labels_are_refused(server, lab, text, named):
    before = (lab / "labels.csv").read_bytes()
    message = one_line_error(web.post(server.url + "/v1/label/images/c5.png", json={"text": text}), 400)
    assert named in message
    assert (lab / "labels.csv").read_bytes() == before


def test_a_confirmed_new_character_widens_the_charset_and_a_formula_is_stored_so_it_cannot_run(server, lab):
    answer = web.post(server.url + "/v1/label/images/c6.png", json={"text": "=1+1"})
    assert answer.status_code == 400 and answer.json()["unknown"] == "=+"
    state = web.post(server.url + "/v1/label/images/c6.png", json={"text": "=1+1", "add_chars": "=+"}).json()
    assert state["charset"].endswith("=+")
    assert "c6.png,'=1+1\n" in (lab / "labels.csv").read_text()  # a spreadsheet shows it as text
    assert dict(read_labels_csv(lab / "labels.csv"))["c6.png"] == "=1+1"  # read back as typed
    one_line_error(web.post(server.url + "/v1/label/images/c6.png", json={"text": "=1_1", "add_chars": "_"}), 400)


def test_an_empty_reading_is_not_certain(server, blank_model):
    import io

    _, expected = blank_model
    buffer = io.BytesIO()
    Image.new("L", (80, 30), 255).save(buffer, format="PNG")  # a blank page
    for threshold, abstained in [(0.9, True), (0.5, False)]:
        answer = web.post(server.url + "/v1/read", files={"image": ("blank.png", buffer.getvalue(), "image/png")},
                            data={"model": "blank", "min_confidence": str(threshold)})
        [reading] = answer.json()["results"]
        assert reading["text"] == "" and reading["confidence"] == pytest.approx(expected, rel=1e-5)
        assert reading["abstained"] is abstained


def test_idle_connections_are_closed(server):
    sockets = [socket.create_connection(("127.0.0.1", server.port), timeout=IDLE_TIMEOUT + 5) for _ in range(50)]
    start = time.monotonic()
    try:
        for sock in sockets:
            assert sock.recv(1) == b""  # closed by the server (a timeout raises instead)
        assert time.monotonic() - start < IDLE_TIMEOUT + 2
    finally:
        for sock in sockets:
            sock.close()
    # And after a request, the keep-alive connection goes the same way.
    with socket.create_connection(("127.0.0.1", server.port), timeout=IDLE_TIMEOUT + 5) as sock:
        sock.sendall(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < int(
                parse(answer + b"\r\n\r\n")[1].get("content-length", 0)):
            answer += sock.recv(65536)
        assert parse(answer)[0] == 200
        start = time.monotonic()
        assert sock.recv(1) == b"" and time.monotonic() - start < IDLE_TIMEOUT + 2


def slow_client(port: int, head: bytes, trickle: bytes) -> tuple[float, bytes]:
    """Send `head`, then `trickle` one byte a second; (seconds until the server answered or closed, answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT + 5) as sock:
        sock.sendall(head)
        start = time.monotonic()
        for byte in trickle:
            try:
                sock.sendall(bytes([byte]))
            except OSError:  # closed by the server
                break
            sock.settimeout(1.0)
            try:
                answer = sock.recv(65536)
                return time.monotonic() - start, answer
            except socket.timeout:
                continue
        return time.monotonic() - start, b""


def test_slow_and_lying_clients_are_dropped(server):
    port = server.port
    post = (f"POST /v1/read HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            "Content-Length: 200\r\n\r\n").encode()
    seconds, answer = slow_client(port, post, b"{" * 30)  # the body at 1 byte/s
    status, headers, body = parse(answer)
    assert status == 408 and headers["connection"] == "close" and "body" in json.loads(body)["error"]
    assert seconds < REQUEST_TIMEOUT + 2
    seconds, answer = slow_client(port, b"", f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode() * 3)
    status, _, body = parse(answer)  # the headers at 1 byte/s
    assert status == 408 and "headers" in json.loads(body)["error"] and seconds < REQUEST_TIMEOUT + 2
    lying = post.replace(b"Content-Length: 200", b"Content-Length: 20000000") + b"0123456789"
    start = time.monotonic()
    status, _, body = parse(raw_exchange(port, lying))
    assert status in (408, 413) and json.loads(body)["error"] and time.monotonic() - start < REQUEST_TIMEOUT + 2
    assert web.get(server.url + "/health").status_code == 200  # and nothing is held


def test_what_the_http_parser_refuses_gets_the_json_error_too(server):
    port = server.port
    for request in [f"POST /v1/read HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: abc\r\n\r\n",
                    "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: x\r\n\r\n",
                    "NOT HTTP AT ALL\r\n\r\n"]:
        status, headers, body = parse(raw_exchange(port, request.encode()))
        assert status == 400 and headers["content-type"] == "application/json", request
        assert "\n" not in json.loads(body)["error"]
    huge = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {'a' * 100_000}\r\n\r\n"
    status, _, body = parse(raw_exchange(port, huge.encode()))
    assert status == 431 and json.loads(body)["error"]


def test_open_connections_are_capped(server):
    time.sleep(0.5)  # the earlier tests' connections are closed
    held = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.3)  # accepted by the server
        request = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()
        status, _, body = parse(raw_exchange(server.port, request))
        assert status == 503 and "connections" in json.loads(body)["error"]
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    assert web.get(server.url + "/health").status_code == 200


def test_a_handler_that_raises_is_a_json_500_and_logged(smoke_run, caplog):
    """A model that fails: the answer is the one-line JSON error with status 500, and the log has the traceback."""
    import asyncio

    from captcha_ocr.inference.readers import load_reader
    from captcha_ocr.serve.app import create_app

    class Failing:
        def __init__(self, spec):
            self.spec = spec

        def predict_arrays(self, batch):
            raise RuntimeError("the model failed")

        logits_arrays = predict_arrays  # how the service has a Keras model read: its logits first

    reader = load_reader(smoke_run, "smoke")
    reader.reader = Failing(reader.spec)
    app = create_app([reader])

    async def ask() -> tuple[httpx.Response, int]:
        async with app.router.lifespan_context(app):  # starts the micro-batcher
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
                answer = await client.post("/v1/read", content=_png(), headers={"Content-Type": "image/png"})
                return answer, (await client.get("/health")).status_code

    answer, health = asyncio.run(ask())
    assert "RuntimeError" in one_line_error(answer, 500)
    assert health == 200  # and the service goes on
    assert any(r.exc_info and "the model failed" in str(r.exc_info[1]) for r in caplog.records)


def _png() -> bytes:
    import io

    buffer = io.BytesIO()
    Image.new("L", (80, 30), 128).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_token_guards_everything_but_the_page_and_health(smoke_run, workdir):
    with Server("--model", smoke_run, "--token", TOKEN, "--allowed-host", "captcha.test", cwd=workdir) as s:
        message = one_line_error(web.get(s.url + "/v1/models"), 401)
        assert "Authorization: Bearer" in message
        assert web.get(s.url + "/v1/models").headers["www-authenticate"] == "Bearer"
        one_line_error(web.get(s.url + "/v1/models", headers={"Authorization": "Bearer wrong-token-0000000"}), 401)
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert web.get(s.url + "/v1/models", headers=good).status_code == 200
        assert web.get(s.url + "/health").status_code == 200
        assert web.get(s.url + "/openapi.json").json()["components"]["securitySchemes"]["token"]["scheme"] == "bearer"
        assert web.get(s.url + "/v1/models", headers={**good, "Host": "captcha.test"}).status_code == 200
        one_line_error(web.get(s.url + "/v1/models", headers={**good, "Host": "evil.test"}), 403)


def test_another_address_than_loopback_needs_a_token(smoke_run, workdir):
    assert_user_error(run_module("serve", "--model", smoke_run, "--host", "0.0.0.0", cwd=workdir,
                                 env={"CAPTCHA_OCR_TOKEN": ""}), "--token")
    assert_user_error(run_module("serve", "--model", smoke_run, "--token", "short", cwd=workdir), "at least 16")
    assert_user_error(run_module("serve", "--model", smoke_run, "--label-folder", workdir, "--charset", "ab_",
                                 cwd=workdir), "--charset", "'_'")
