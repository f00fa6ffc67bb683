"""Serve models over HTTP, and label a folder in the browser: `python -m captcha_ocr.serve --model RUN`.

    python -m captcha_ocr.serve --model base
    python -m captcha_ocr.serve --model runs/mine --model base=base --label-folder unlabeled/

Then `curl -F image=@captcha.png http://127.0.0.1:8000/v1/read`, the API docs at
http://127.0.0.1:8000/docs, and with --label-folder the labeling page at
http://127.0.0.1:8000/. It listens on 127.0.0.1 only unless --host says otherwise,
and another address needs a token (--token, or $CAPTCHA_OCR_TOKEN) that every
client sends as `Authorization: Bearer TOKEN` (the page: open /label#token=TOKEN).
Requests for another Host name, and writes from another site, are refused.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Sequence

from captcha_ocr.core.cli import (add_chars_arg, add_length_arg, add_views_arg, float_above, fraction, int_at_least,
                                   logger, parser, run_cli)
from captcha_ocr.core.errors import UserError
from captcha_ocr.core.workers import worker_count
from captcha_ocr.serve.guard import MIN_TOKEN_LENGTH, TOKEN_ENV, Access, allowed_hosts, is_loopback
from captcha_ocr.serve.inputs import Limits

IDLE_TIMEOUT = 5.0  # seconds a connection may stay open between requests (and before the first)


def build_parser():
    p = parser("python -m captcha_ocr.serve", __doc__)
    p.add_argument("--model", action="append", required=True, metavar="[NAME=]PATH",
                   help="a run directory, .keras file, export folder or shipped model (base); repeat to serve "
                        "several, named NAME=PATH (else by the path's last part); the first is the default")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int_at_least(1), default=8000, help="port (default 8000)")
    p.add_argument("--label-folder", metavar="DIR",
                   help="serve the labeling page for this folder of images; labels go to DIR/labels.csv")
    add_views_arg(p, "; every --model, Keras models only: 9 reads a batch with nine times the work")
    add_length_arg(p)  # every --model, as --views
    add_chars_arg(p)
    p.add_argument("--min-confidence", type=fraction, default=0.0,
                   help="readings below this confidence are marked abstained (requests may set their own)")
    p.add_argument("--max-batch", type=int_at_least(1), default=64, help="images per model call at most")
    p.add_argument("--max-wait-ms", type=float, default=2.0,
                   help="how long a request waits for others to share its model call (default 2 ms)")
    p.add_argument("--model-threads", type=int_at_least(1), default=None,
                   help="model calls run side by side, each on one core (default: one per core; TensorFlow "
                        "models only, 1 gives each call every core)")
    p.add_argument("--max-body-mb", type=float, default=10.0, help="request body limit (default 10 MB)")
    p.add_argument("--max-images", type=int_at_least(1), default=64, help="images per request at most")
    p.add_argument("--max-pixels", type=int_at_least(1), default=4_000_000,
                   help="pixels per image at most, checked before decoding (default 4,000,000)")
    p.add_argument("--access-log", action="store_true", help="log every request (off: it costs throughput)")
    p.add_argument("--token", default=None,
                   help=f"clients must send 'Authorization: Bearer TOKEN' (at least {MIN_TOKEN_LENGTH} characters; "
                        f"default ${TOKEN_ENV}); needed to listen on an address other than loopback")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="a Host name clients may use besides the address listened on, localhost, 127.0.0.1 and "
                        "[::1] (repeatable): others are refused, as DNS rebinding would send them")
    p.add_argument("--request-timeout", type=float_above(0), default=30.0,
                   help="seconds a request's headers, and then its body, may take to arrive (default 30)")
    p.add_argument("--max-connections", type=int_at_least(1), default=256,
                   help="open connections at most; one more gets 503 and is closed (default 256)")
    p.add_argument("--charset", default="", metavar="CHARS",
                   help="characters labels may use besides the model's (--label-folder; others the page asks "
                        "the person to confirm once)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 <= args.max_wait_ms <= 1000:
        raise UserError(f"--max-wait-ms must be from 0 to 1000, got {args.max_wait_ms:g}")
    if not 0 < args.max_body_mb <= 1024:
        raise UserError(f"--max-body-mb must be above 0 and at most 1024, got {args.max_body_mb:g}")
    import uvicorn

    from captcha_ocr.inference.readers import load_reader
    from captcha_ocr.serve.app import create_app
    from captcha_ocr.serve.connections import protocol
    from captcha_ocr.serve.labeling import LabelSession

    model_threads = worker_count(args.model_threads or 0)
    if model_threads > 1:
        one_core_per_call(model_threads)
    limits = Limits(int(args.max_body_mb * 2**20), args.max_images, args.max_pixels)
    access = Access(allowed_hosts(args.host, args.allowed_host), check_token(args.host, args.token))
    models = []
    for name, path in parse_model_args(args.model):
        models.append(load_reader(path, name, views=args.views, lengths=args.length, chars=args.chars))
        logger.info(f"model {name!r}: {path} ({models[-1].kind}, {models[-1].spec.width}x{models[-1].spec.height}"
                    + (f", {args.views} views" if args.views > 1 else "")
                    + (", lengths {}-{}".format(*args.length) if args.length else "")
                    + (f", only {args.chars!r}" if args.chars else "") + ")")
    session = None
    if args.label_folder:
        spec = models[0].spec
        check_label_chars(args.charset, spec.pad)
        logger.info(f"reading {args.label_folder} with model {models[0].name!r} to order the labeling queue ...")
        session = LabelSession.open(args.label_folder, models[0], max_pixels=limits.max_pixels,
                                    chars=spec.chars + args.charset, pad=spec.pad)
        session.use_model(models[0].source, spec)
        state = session.state()
        logger.info(f"labeling {state['total']} images: {state['labeled']} labeled, {state['remaining']} to go"
                    + (f", {len(state['unreadable'])} unreadable" if state["unreadable"] else ""))
    check_address(args.host, args.port)
    app = create_app(models, limits, args.min_confidence, session, args.max_batch, args.max_wait_ms / 1000,
                     model_threads, access)
    url = f"http://{'[' + args.host + ']' if ':' in args.host else args.host}:{args.port}"
    page = f"{url}/label" + ("#token=<your token>" if access.token else "")
    logger.info(f"serving on {url}: POST {url}/v1/read, API docs {url}/docs"
                + (f", labeling page {page}" if session else ""))
    # On SIGTERM, requests still being read get 5 seconds, so that the service always stops.
    uvicorn.run(app, host=args.host, port=args.port, access_log=args.access_log, log_level="warning",
                timeout_graceful_shutdown=5, timeout_keep_alive=int(IDLE_TIMEOUT), ws="none",
                http=protocol(args.request_timeout, IDLE_TIMEOUT, args.max_connections))
    return 0


def check_token(host: str, token: str | None) -> str | None:
    """The token clients must send: --token, else $CAPTCHA_OCR_TOKEN, else None (loopback only).

    Raises:
        UserError: a token too short, or none for an address other than loopback.
    """
    token = token if token is not None else os.environ.get(TOKEN_ENV) or None
    if token is not None and (len(token) < MIN_TOKEN_LENGTH or not token.isprintable() or " " in token):
        raise UserError(f"the token must be at least {MIN_TOKEN_LENGTH} printable characters without spaces; "
                        "make one with: python -c 'import secrets; print(secrets.token_urlsafe())'")
    if token is None and not is_loopback(host):
        raise UserError(f"--host {host} can be reached from other machines: give a token with --token or "
                        f"${TOKEN_ENV} (python -c 'import secrets; print(secrets.token_urlsafe())'), or listen "
                        "on 127.0.0.1")
    return token


def check_label_chars(chars: str, pad: str) -> None:
    """Refuse a --charset with the pad, spaces or control characters.

    Raises:
        UserError: naming the character.
    """
    import unicodedata

    for c in chars:
        if c == pad or c.isspace() or unicodedata.category(c).startswith("C"):
            what = "the pad character" if c == pad else "a space or control character"
            raise UserError(f"--charset has {c!r}, {what}, which no label may use; leave it out")


def one_core_per_call(threads: int) -> None:
    """TensorFlow runs each model call on one core, and up to `threads` calls at once (before any model loads).

    On 2 cores, one call split over both stalls whenever the event loop takes a core for HTTP and
    decoding, and the two then take turns; calls on one core each keep both busy (docs/measurements.md, Serving).
    """
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def parse_model_args(values: Sequence[str]) -> list[tuple[str, str]]:
    """`--model` values -> (name, path): `NAME=PATH`, or a bare path named after its last part.

    Raises:
        UserError: two models with one name.
    """
    named: list[tuple[str, str]] = []
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or Path(value).exists():
            path = value
            name = Path(value.rstrip("/")).stem or value
        if any(name == other for other, _ in named):
            raise UserError(f"two models are named {name!r}; name them with --model NAME=PATH")
        named.append((name, path))
    return named


def check_address(host: str, port: int) -> None:
    """Refuse, in one line, an address the service could not listen on (uvicorn would exit with a log line).

    Raises:
        UserError: the port is taken or the host is not an address of this machine.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise UserError(f"--host {host!r} is not a known address; give 127.0.0.1 or an address of this machine") \
            from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as err:
            raise UserError(f"cannot listen on {host}:{port}: {err.strerror}; give another --port") from None


if __name__ == "__main__":
    run_cli(main)
