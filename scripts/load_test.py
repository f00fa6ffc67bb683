"""Load-test the HTTP service on this machine: `python scripts/load_test.py --model base --out reports/serve`.

    python scripts/load_test.py --model base --out reports/serve              # about 2 minutes
    python scripts/load_test.py --model runs/quickstart --seconds 5 --out reports/serve-quickstart

In one run, on localhost only:

1. the model's own batch throughput: `Recognizer.predict_arrays` on batches of
   `--max-batch` prepared images in this process, for `--seconds`, before the
   service starts and again after it stops (the service is compared with the
   faster of the two: this machine's speed drifts within minutes), with the
   CPU time the hypervisor took meanwhile ("steal") beside each figure;
2. the service (`python -m captcha_ocr.serve`, started here on a free port):
   single-image `POST /v1/read` requests (multipart, as `curl -F` sends them)
   from 1, 8 and 32 concurrent keep-alive connections, each level bounded by
   `--seconds` and `--max-requests`: requests/s, p50 and p99 latency, errors,
   and the mean batch the micro-batcher formed (from `/health`);
3. a battery of bad requests (truncated, empty, text, huge dimensions, a
   30 MB body, wrong fields, unknown model, base64 garbage, too many images,
   path-like names, ...): each must get a 4xx, none a 5xx, and the service
   must answer normally afterwards.

Writes `load.json` and `load.md` to --out. The client is a small asyncio
HTTP/1.1 client sharing the 2 cores with the server, so the figures include
its cost, as they would for any client on the same machine.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from captcha_ocr.core.cli import int_at_least, output_dir, parser, run_cli
from captcha_ocr.core.errors import UserError
from captcha_ocr.core.machine import free_port, machine_info
from captcha_ocr.core.tables import markdown_table

ROOT = Path(__file__).resolve().parents[1]


def sample_png() -> bytes:
    """One broad synthetic captcha (160x60, 4 characters) as PNG bytes, as a client would send it."""
    from captcha_ocr.core.charset import DEFAULT_CHARS
    from captcha_ocr.synth.broad import BroadGenerator

    _, image = BroadGenerator(DEFAULT_CHARS, 4, 4).sample(5, "test", 0)
    buffer = io.BytesIO()
    image.resize((160, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


def batch_throughput(recognizer, png: bytes, batch: int, seconds: float) -> dict:
    """Images/s of `predict_arrays` on full batches, after one warm-up call."""
    arrays = np.stack([recognizer.prepare(png)] * batch)
    recognizer.predict_arrays(arrays)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        recognizer.predict_arrays(arrays)
        calls += 1
    elapsed = time.perf_counter() - start
    return {"batch": batch, "images_per_s": calls * batch / elapsed, "ms_per_batch": 1000 * elapsed / calls}


def multipart(fields: list[tuple[str, str | None, bytes]]) -> tuple[str, bytes]:
    """(content type, body) of a multipart form: (field, file name or None, value)."""
    boundary = "loadtestboundary7c1e"
    parts = []
    for name, filename, value in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        parts.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n")
    return f"multipart/form-data; boundary={boundary}", b"".join(parts) + f"--{boundary}--\r\n".encode()


def http_request(port: int, path: str, content_type: str | None, body: bytes, close: bool = False,
                 method: str = "POST", declared_length: int | None = None) -> bytes:
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}",
            f"Content-Length: {len(body) if declared_length is None else declared_length}"]
    if content_type:
        head.append(f"Content-Type: {content_type}")
    if close:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def exchange(reader, writer, raw: bytes) -> tuple[int, bytes]:
    """Send one request on an open connection; (status, body) of the answer."""
    writer.write(raw)
    # The answer is read while the body is still going out, as curl does: a server may refuse a large
    # body (413) before reading it, and a client that waits to finish sending would never see that answer.
    sending = asyncio.ensure_future(writer.drain())
    try:
        status = int((await reader.readline()).split()[1])
    finally:
        if not sending.done():
            sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def load_level(port: int, raw: bytes, concurrency: int, seconds: float, max_requests: int) -> dict:
    """`concurrency` keep-alive connections sending `raw` in a loop, after 1 s of warm-up."""
    latencies: list[float] = []
    errors = 0
    sent = 0
    measuring = False
    stop_at = 0.0

    async def client():
        nonlocal errors, sent
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                counted = measuring  # a request started during the warm-up is not counted
                if counted:
                    if time.perf_counter() >= stop_at or sent >= max_requests:
                        return
                    sent += 1  # taken before sending, so that concurrent clients stop at max_requests exactly
                started = time.perf_counter()
                try:
                    status, _ = await exchange(reader, writer, raw)
                except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                    status = 0
                if counted:
                    latencies.append(time.perf_counter() - started)
                    errors += status != 200
                if status == 0:
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
        finally:
            writer.close()

    tasks = [asyncio.create_task(client()) for _ in range(concurrency)]
    await asyncio.sleep(1.0)  # warm-up: connections open, batches settle
    measuring, begin = True, time.perf_counter()
    stop_at = begin + seconds
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - begin
    latencies.sort()
    return {"concurrency": concurrency, "requests": len(latencies), "seconds": elapsed,
            "requests_per_s": len(latencies) / elapsed, "errors": errors,
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]}


def battery(png: bytes, max_images: int) -> dict[str, tuple[str | None, bytes, dict]]:
    """Bad requests: name -> (content type, body, extra)."""
    huge = io.BytesIO()
    Image.new("L", (20000, 20000)).save(huge, format="PNG")  # 400 MP declared, 1 MB on the wire
    b64 = base64.b64encode(png).decode()
    form = lambda *fields: multipart(list(fields))  # noqa: E731
    cases = {
        "truncated image": form(("image", "t.png", png[: len(png) // 2])),
        "empty file": form(("image", "e.png", b"")),
        "text as an image": form(("image", "notes.txt", b"hello, world")),
        "huge dimensions": form(("image", "huge.png", huge.getvalue())),
        "30 MB body": ("image/png", b"\0" * (30 * 2**20)),
        "wrong form field": form(("model", None, b"base")),
        "wrong JSON field": ("application/json", json.dumps({"picture": b64}).encode()),
        "broken JSON": ("application/json", b'{"images": ['),
        "unknown model": ("application/json", json.dumps({"image": b64, "model": "nope"}).encode()),
        "base64 garbage": ("application/json", json.dumps({"images": ["@@ not base64 @@"]}).encode()),
        "too many images": ("application/json", json.dumps({"images": [b64] * (max_images + 1)}).encode()),
        "path-like file name": form(("image", "../../../etc/passwd", b"root:x:0:0:")),
        "path as base64": ("application/json", json.dumps({"image": "/etc/passwd"}).encode()),
        "threshold not a number": ("application/json", json.dumps({"image": b64, "min_confidence": "high"}).encode()),
        "unsupported content type": ("text/plain", b"read this"),
        "malformed multipart": ("multipart/form-data; boundary=x", b"--x\r\nnot a part"),
    }
    return cases


async def run_battery(port: int, png: bytes, max_images: int) -> list[dict]:
    rows = []
    for name, (content_type, body) in battery(png, max_images).items():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            status, answer = await exchange(reader, writer, http_request(port, "/v1/read", content_type, body, True))
            message = json.loads(answer).get("error", "")
        except (OSError, asyncio.IncompleteReadError, ValueError) as err:
            status, message = 0, f"no answer ({type(err).__name__})"
        finally:
            writer.close()
        rows.append({"case": name, "status": status, "message": message})
    return rows


def start_server(model: str, port: int, max_batch: int, log: Path,
                 model_threads: int | None = None) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    threads = [] if model_threads is None else ["--model-threads", str(model_threads)]
    proc = subprocess.Popen([sys.executable, "-m", "captcha_ocr.serve", "--model", model, "--port", str(port),
                             "--max-batch", str(max_batch)] + threads, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UserError(f"the service exited with status {proc.returncode}; see {log}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise UserError(f"the service did not start within 3 minutes; see {log}")


async def get_json(port: int, path: str) -> tuple[int, dict]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        status, body = await exchange(reader, writer, http_request(port, path, None, b"", True, "GET"))
        return status, json.loads(body)
    finally:
        writer.close()


def run(model: str, out: Path, seconds: float, levels: Sequence[int], max_requests: int, max_batch: int,
        body_kind: str = "multipart", model_threads: int | None = None) -> dict:
    from captcha_ocr.inference.recognizer import Recognizer

    recognizer = Recognizer.load(model)
    png = sample_png()
    print(f"model {model}: batch throughput for {seconds:g} s ...", flush=True)
    first = measured(batch_throughput, recognizer, png, max_batch, seconds)
    print(f"  {first['images_per_s']:.0f} images/s in batches of {max_batch}", flush=True)
    port = free_port()
    proc = start_server(model, port, max_batch, out / "server.log", model_threads)
    results = {"machine": machine_info(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "model": model,
               "model_threads": model_threads, "levels": []}
    try:
        content_type, body = {
            "multipart": multipart([("image", "captcha.png", png)]),
            "json": ("application/json", json.dumps({"image": base64.b64encode(png).decode()}).encode()),
            "raw": ("image/png", png),
        }[body_kind]
        raw = http_request(port, "/v1/read", content_type, body)
        results["body"] = body_kind
        for concurrency in levels:
            _, before = asyncio.run(get_json(port, "/health"))
            level = measured(lambda: asyncio.run(load_level(port, raw, concurrency, seconds, max_requests)))
            _, after = asyncio.run(get_json(port, "/health"))
            b, a = next(iter(before["models"].values())), next(iter(after["models"].values()))
            level["mean_batch"] = (a["images"] - b["images"]) / max(1, a["calls"] - b["calls"])
            results["levels"].append(level)
            print(f"  concurrency {concurrency}: {level['requests_per_s']:.0f} requests/s, "
                  f"p50 {level['p50_ms']:.1f} ms, "
                  f"p99 {level['p99_ms']:.1f} ms, {level['errors']} errors, mean batch {level['mean_batch']:.1f}",
                  flush=True)
        results["battery"] = asyncio.run(run_battery(port, png, 64))
        status, _ = asyncio.run(get_json(port, "/health"))
        good = asyncio.run(load_level(port, raw, 1, 1.0, 5))
        results["after_battery"] = {"health_status": status, "reads_ok": good["errors"] == 0 and good["requests"] > 0}
    finally:
        proc.terminate()
        proc.wait(30)
    print(f"model {model}: batch throughput again, with the service stopped ...", flush=True)
    second = measured(batch_throughput, recognizer, png, max_batch, seconds)
    print(f"  {second['images_per_s']:.0f} images/s", flush=True)
    # The machine's speed drifts within minutes (the hypervisor takes CPU time: steal), so the model is
    # measured before and after the service, and the service is compared with the faster of the two.
    results["model_batch_runs"] = [first, second]
    results["model_batch"] = max(first, second, key=lambda r: r["images_per_s"])
    for level in results["levels"]:
        level["ratio_to_model"] = level["requests_per_s"] / results["model_batch"]["images_per_s"]
    return results


def measured(fn, *args) -> dict:
    """fn(*args)'s dict, with the share of CPU time the hypervisor took meanwhile ("steal", Linux; else None)."""
    before = cpu_times()
    result = fn(*args)
    after = cpu_times()
    result["steal"] = None if before is None or after is None else \
        (after[0] - before[0]) / max(1, after[1] - before[1])
    return result


def cpu_times() -> tuple[int, int] | None:
    """(steal, total) jiffies of the whole machine, from /proc/stat."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    return (fields[7] if len(fields) > 7 else 0), sum(fields)


def write_report(results: dict, out: Path) -> str:
    m = results["machine"]
    lines = [f"# Service load test: {results['model']}", "",
             f"Machine: {m['cpu']}, {m['cpu_count']} cores; {results['date']}; server and client share it.", "",
             f"Command: `{results.get('command', 'python scripts/load_test.py --model MODEL --out DIR')}`.", "",
             f"Model batch throughput (Recognizer.predict_arrays, batches of {results['model_batch']['batch']}), "
             "measured before the service started and after it stopped: "
             + " and ".join(f"{r['images_per_s']:.0f} images/s{_steal(r)}" for r in results["model_batch_runs"])
             + f". The service is compared with the faster, **{results['model_batch']['images_per_s']:.0f} images/s**.",
             "",
             f"Each request: one {results['body']} image (`--body {results['body']}`). The service's model threads: "
             + (f"{results['model_threads']} (`--model-threads {results['model_threads']}`)."
                if results.get("model_threads") else "its default, one per core."), "",
             markdown_table(["concurrency", "requests", "requests/s", "× model batch throughput", "p50 ms", "p99 ms",
                             "errors", "mean batch", "steal"],
                            [[lv["concurrency"], lv["requests"], f"{lv['requests_per_s']:.0f}",
                              f"{lv['ratio_to_model']:.2f}", f"{lv['p50_ms']:.1f}", f"{lv['p99_ms']:.1f}", lv["errors"],
                              f"{lv['mean_batch']:.1f}", _percent(lv.get("steal"))] for lv in results["levels"]],
                            align="rrrrrrrrr")]
    lines += ["", "Steal: the share of the machine's CPU time its hypervisor took during that measurement "
                  "(from /proc/stat); where it is high, the figure is low for reasons outside this program."]
    bad = results["battery"]
    server_errors = sum(r["status"] >= 500 or r["status"] == 0 for r in bad)
    lines += ["", f"Bad-input battery: {len(bad)} kinds, {server_errors} server errors (5xx or no answer); "
              f"afterwards /health answered {results['after_battery']['health_status']} and reads "
              f"{'worked' if results['after_battery']['reads_ok'] else 'FAILED'}.", "",
              markdown_table(["case", "status", "message"], [[r["case"], r["status"], r["message"][:110]] for r in bad])]
    text = "\n".join(lines) + "\n"
    (out / "load.md").write_text(text)
    (out / "load.json").write_text(json.dumps(results, indent=1))
    return text


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.0f}%"


def _steal(run: dict) -> str:
    return "" if run.get("steal") is None else f" (steal {_percent(run['steal'])})"


def _use_uvloop() -> None:
    """The client's event loop: uvloop (installed with uvicorn[standard]) costs the shared cores less."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: Sequence[str] | None = None) -> int:
    p = parser("python scripts/load_test.py", __doc__)
    p.add_argument("--model", default="base", help="a run directory, .keras file or shipped model (default base)")
    p.add_argument("--out", default="reports/serve", help="report folder (default reports/serve)")
    p.add_argument("--seconds", type=float, default=10.0, help="measuring time per level (default 10)")
    p.add_argument("--levels", type=int_at_least(1), nargs="+", default=[1, 8, 32], help="concurrency levels")
    p.add_argument("--max-requests", type=int_at_least(1), default=20000, help="requests per level at most")
    p.add_argument("--max-batch", type=int_at_least(1), default=64, help="the service's --max-batch")
    p.add_argument("--model-threads", type=int_at_least(1), default=None,
                   help="the service's --model-threads (default: its own default, one per core)")
    p.add_argument("--body", choices=("multipart", "json", "raw"), default="multipart",
                   help="how each request carries its image: a multipart file (default, as curl -F), JSON base64, "
                        "or the PNG itself as the body")
    args = p.parse_args(argv)
    if not 0 < args.seconds <= 120:
        raise UserError(f"--seconds must be above 0 and at most 120, got {args.seconds:g}")
    out = output_dir(args.out)
    _use_uvloop()
    results = run(args.model, out, args.seconds, args.levels, args.max_requests, args.max_batch, args.body,
                  args.model_threads)
    results["command"] = " ".join(["python scripts/load_test.py", *(sys.argv[1:] if argv is None else argv)])
    print(write_report(results, out))
    return 0


if __name__ == "__main__":
    run_cli(main)
