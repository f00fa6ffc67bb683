"""What a client may send, and the limits on it.

`read_images` takes a `/v1/read` request apart into (name, bytes) pairs and
the per-request options, for the three kinds of body the service takes:
multipart files, JSON with base64 images, or one raw image. `BodyLimit` is an
ASGI middleware that refuses a body larger than the limit before it is read
whole. Every refusal is a `RequestError` carrying its HTTP status and one
line that says what to fix.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import re
from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.requests import Request

from captcha_ocr.core.cli import lengths, parse_fraction

OPTIONS = ("model", "min_confidence", "length", "chars")  # what a request may set besides its images
LENGTH = re.compile(r"[0-9]+(-[0-9]+)?")  # a request's length as text: N or LOW-HIGH, ASCII digits only


@dataclass(frozen=True)
class Limits:
    """The service's limits on requests (`python -m captcha_ocr.serve --help` sets them)."""

    max_body_bytes: int = 10 * 2**20
    max_images: int = 64
    max_pixels: int = 4_000_000  # per image, checked from its header before it is decoded


class RequestError(Exception):
    """A client mistake: an HTTP status and a one-line message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class ReadRequest:
    images: list[tuple[str, bytes]]  # (name, encoded bytes)
    model: str | None = None
    min_confidence: float | None = None
    other_model: str | None = None  # a model the query named too (the body's wins), to check that it exists
    length: tuple[int, int] | None = None  # the lengths its captchas have (low, high); None: the model's
    chars: str | None = None  # the characters its captchas use; None: the model's


def _fraction(value, where: str) -> float:
    try:
        return parse_fraction(value)
    except ValueError as e:
        raise RequestError(400, f"{where}: {e}") from None


def _told(fields) -> dict:
    """A request's `length` and `chars` from its fields (JSON object, form fields or query), None where absent."""
    return {"length": _length(fields["length"]) if "length" in fields else None,
            "chars": _chars(fields["chars"]) if "chars" in fields else None}


def _length(value, where: str = "length") -> tuple[int, int]:
    """A request's `length`: N or "LOW-HIGH" (a JSON number or text)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise RequestError(400, f"{where} must be N or \"LOW-HIGH\" characters, e.g. 5 or \"4-6\", got "
                                f"{json.dumps(value)[:60]}")
    text = str(value)
    try:
        if LENGTH.fullmatch(text):
            return lengths(text)
    except argparse.ArgumentTypeError:
        pass
    raise RequestError(400, f"{where}: {text[:40]!r} is not N or LOW-HIGH characters with 1 <= LOW <= HIGH "
                            "(e.g. 5 or 4-6)")


def _chars(value, where: str = "chars") -> str:
    """A request's `chars`: a non-empty string of characters."""
    if not isinstance(value, str) or not value:
        raise RequestError(400, f"{where} must be the characters the captchas use, e.g. \"0123456789\", got "
                                f"{json.dumps(value)[:60]}")
    return value


def _base64(text, where: str) -> bytes:
    if not isinstance(text, str):
        raise RequestError(400, f"{where} must be a base64 string, got {type(text).__name__}")
    if not text:
        raise RequestError(400, f"{where} is empty; send the base64 of an image file")
    if text.startswith("data:"):  # a data URL, as a browser's FileReader gives
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(400, f"{where} is not valid base64") from None


async def _from_json(request: Request, limits: Limits) -> ReadRequest:
    try:
        body = json.loads(await request.body())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RequestError(400, f"the body is not valid JSON ({err})") from None
    if not isinstance(body, dict):
        raise RequestError(400, 'the JSON body must be an object: {"images": ["<base64>", ...]}')
    unknown = sorted(set(body) - {"image", "images", *OPTIONS})
    if unknown:
        raise RequestError(400, f"unknown field {unknown[0]!r}; the fields are images (or image), "
                                f"{', '.join(OPTIONS)}")
    if "images" in body and "image" in body:
        raise RequestError(400, 'both images and image; send {"images": [...]} or {"image": "<base64>"}, not both')
    if "images" in body:
        if not isinstance(body["images"], list):
            raise RequestError(400, "images must be a list of base64 strings")
        encoded = body["images"]
        names = [f"images[{i}]" for i in range(len(encoded))]
    elif "image" in body:
        encoded, names = [body["image"]], ["image"]
    else:
        raise RequestError(400, 'no images: send {"images": ["<base64>", ...]} or {"image": "<base64>"}')
    _check_count(len(names), limits)  # before decoding any of them
    model, threshold = body.get("model", ""), body.get("min_confidence", 0.0)
    if not isinstance(model, str):
        raise RequestError(400, f"model must be a model's name (a string), got {json.dumps(model)[:60]}")
    # JSON true is not 1.0, nor "0.5" a number: the JSON fields take numbers (a query parameter is text).
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise RequestError(400, f"min_confidence must be a number between 0 and 1, got {json.dumps(threshold)[:60]}")
    return ReadRequest([(n, _base64(e, n)) for n, e in zip(names, encoded)], body.get("model"),
                       body.get("min_confidence"), **_told(body))


async def _from_form(request: Request, limits: Limits) -> ReadRequest:
    try:
        form = await request.form(max_files=limits.max_images + 1, max_fields=20)
    except _TooLarge:
        raise
    except Exception as err:  # starlette/python-multipart raise several types for a malformed body
        if "too many files" in str(err).lower():
            raise RequestError(413, f"more than {limits.max_images} images in one request") from None
        raise RequestError(400, f"malformed multipart body ({str(err)[:200]})") from None
    images, fields = [], {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            images.append((value.filename or key, await value.read()))
        elif key in OPTIONS:
            fields[key] = value
        else:
            raise RequestError(400, f"unknown form field {key!r}; send image files, and optionally "
                                    f"{', '.join(OPTIONS)}")
    if not images:
        raise RequestError(400, "no image files in the form; send them as -F image=@captcha.png")
    return ReadRequest(images, fields.get("model"), fields.get("min_confidence"), **_told(fields))


def _check_count(count: int, limits: Limits) -> None:
    if count == 0:
        raise RequestError(400, "no images in the request; send at least one")
    if count > limits.max_images:
        raise RequestError(413, f"{count} images in one request; at most {limits.max_images}")


async def read_images(request: Request, limits: Limits) -> ReadRequest:
    """Take a `/v1/read` request apart; query parameters (`model`, `min_confidence`, `length`, `chars`) apply when the
    body has none.

    Raises:
        RequestError: an unsupported body, malformed fields, or more images than allowed.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        parsed = await _from_json(request, limits)
    elif kind == "multipart/form-data":
        parsed = await _from_form(request, limits)
    elif kind.startswith("image/") or kind == "application/octet-stream":
        parsed = ReadRequest([("body", await request.body())])
    else:
        raise RequestError(415, f"unsupported content type {kind or '(none)'!r}; send multipart/form-data image "
                                "files, application/json with base64 images, or one raw image (image/png ...)")
    _check_count(len(parsed.images), limits)
    # The query's options are checked even where the body's win: a request is refused for any bad part.
    query_model, query_threshold = request.query_params.get("model"), request.query_params.get("min_confidence")
    if query_threshold is not None:
        query_threshold = _fraction(query_threshold, "min_confidence")
    model = parsed.model if parsed.model is not None else query_model
    threshold = parsed.min_confidence if parsed.min_confidence is not None else query_threshold
    query = _told(request.query_params)
    return ReadRequest(parsed.images, model, None if threshold is None else _fraction(threshold, "min_confidence"),
                       query_model if parsed.model is not None else None,
                       parsed.length if parsed.length is not None else query["length"],
                       parsed.chars if parsed.chars is not None else query["chars"])


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: 413 for a request body over `max_bytes` (by its Content-Length, or as it streams in)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                return await _answer(send, 400, "Content-Length is not a number")
            if int(declared) > self.max_bytes:
                await _drain(receive, int(declared))
                return await _answer(send, 413, self._message())
        received, started = 0, False

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _drain(receive)
                await _answer(send, 413, self._message())

    def _message(self) -> str:
        return f"the request body is larger than the limit of {self.max_bytes / 2**20:g} MB; send fewer or smaller images"


DRAIN_LIMIT = 256 * 2**20  # bodies up to this size are read to the end (and dropped) after a 413


async def _drain(receive, declared: int = 0) -> None:
    """Read and drop a refused body before answering, so that the client reads the 413, not a reset.

    A server that closes a connection with unread data makes the kernel reset it, and the client
    may lose the answer; and once an answer is complete, uvicorn hands out no more of the body.
    Bodies larger than DRAIN_LIMIT are answered at once and cut off.
    """
    read = declared if declared > DRAIN_LIMIT else 0  # a larger declared body is not read at all
    while read <= DRAIN_LIMIT:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
        read += len(message.get("body", b""))


async def _answer(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
