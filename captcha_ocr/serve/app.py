"""The HTTP service: reading captchas for programs, and the labeling page for people.

`create_app(models, limits, label_session)` builds the FastAPI app. Its routes
only translate HTTP to the library and back: reading goes through each model's
`MicroBatcher`, labeling through `LabelSession`. Every client mistake is a 4xx
answer `{"error": "<one line>"}`; a client never names a file path (images
come in the request, and the labeling routes take names that the session
looks up among its folder's files).

In front of the routes, from the outside in: `Guard` (who may ask, and a JSON
500 for a handler that raises), `BodyLimit` (the body's size) and
`DirectRoutes` (the hot route without FastAPI's routing). `contract` holds
the OpenAPI document, `connections` the HTTP connections' deadlines.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import NamedTuple

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from captcha_ocr.core import __version__
from captcha_ocr.core.errors import UserError
from captcha_ocr.core.images import IMAGE_FORMATS, ImageTooLarge, open_image
from captcha_ocr.inference.readers import Reader
from captcha_ocr.serve import contract
from captcha_ocr.serve.batcher import MicroBatcher
from captcha_ocr.serve.contract import EVERY_ROUTE, FileBody, LabelBody, UndoBody, errors
from captcha_ocr.serve.guard import PUBLIC_PATHS, UNSAFE_METHODS, Access, Guard
from captcha_ocr.serve.inputs import BodyLimit, Limits, RequestError, read_images
from captcha_ocr.serve.labeling import LabelSession, NothingToUndo, UnknownCharacters

STATIC = Path(__file__).with_name("static")
INLINE_IMAGES = 2  # requests with more images are decoded in a worker thread, off the event loop


def error(status: int, message: str, headers: dict | None = None, **extra) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def create_app(models: list[Reader], limits: Limits = Limits(), min_confidence: float = 0.0,
               label_session: LabelSession | None = None, max_batch: int = 64, max_wait: float = 0.002,
               model_threads: int = 1, access: Access = Access()) -> FastAPI:
    """The service for `models` (the first is the default), optionally with a labeling session.

    Args:
        min_confidence: readings below it are `abstained` unless a request sets its own threshold.
        max_batch, max_wait: the micro-batching bounds (see `MicroBatcher`).
        model_threads: model calls that may run at once, for models whose `parallel_calls` allows it.
        access: the Host names the service answers and its token (`guard.Access`; default: loopback, none).
    """
    by_name = {m.name: m for m in models}
    batchers = {m.name: MicroBatcher(m.forward, max_batch, max_wait, model_threads if m.parallel_calls else 1)
                for m in models}

    @asynccontextmanager
    async def lifespan(app):
        for batcher in batchers.values():
            await batcher.start()
        yield
        for batcher in batchers.values():
            await batcher.stop()

    app = FastAPI(title="captcha_ocr", summary="Read text captchas with trained models; label folders of them.",
                  lifespan=lifespan, docs_url=None, redoc_url=None)
    direct: dict = {}  # (method, path) -> endpoint, filled below
    writes: list[APIRoute] = []  # the routes that change state, filled at the end
    app.add_middleware(DirectRoutes, routes=direct)
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)  # outside DirectRoutes
    app.add_middleware(Guard, access=access,  # added last: outside everything
                       writes=lambda scope: any(r.matches(scope)[0] is Match.FULL for r in writes))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_docs(app)

    @app.exception_handler(RequestError)
    async def request_error(request, err: RequestError):
        return error(err.status, str(err))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, err: StarletteHTTPException):
        headers = dict(err.headers or {})
        if err.status_code == 405:  # every method of the path, not only those of the first route that matched it
            headers["Allow"] = ", ".join(sorted(_methods(app, request.url.path)) or ["GET", "HEAD"])
        message = str(err.detail)
        if err.status_code == 404 and message == "Not Found":
            message = f"no route {request.url.path[:200]!r}; the API is described at /docs"
        elif err.status_code == 405:
            message = f"{request.method} is not a method of {request.url.path[:200]}; it takes {headers['Allow']}"
        return error(err.status_code, message, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, err: RequestValidationError):
        first = err.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = " ".join(str(first.get("msg", "invalid")).split())  # one line, whatever pydantic says
        return error(400, f"{where or 'body'}: {message}")

    @app.get("/health", responses={200: {"model": contract.Health}, **errors(*EVERY_ROUTE)})
    async def health():
        """Liveness, the loaded models, and how many images each has read in how many model calls."""
        return {"status": "ok", "models": {name: {"images": b.images, "calls": b.calls}
                                           for name, b in batchers.items()}}

    @app.get("/v1/models", responses={200: {"model": contract.Models}, **errors(*EVERY_ROUTE)})
    async def list_models():
        """The loaded models: charset, length, input size and loss; the first is the default."""
        return {"default": models[0].name, "models": [m.describe() for m in models]}

    # The answer is built as a plain JSONResponse (validating it through ReadResponse per request costs
    # throughput); ReadResponse documents it in the OpenAPI schema.
    @app.post("/v1/read", responses={200: {"model": contract.ReadResponse}, **errors(*EVERY_ROUTE, 404, 415)},
              openapi_extra=contract.read_body(list(by_name), limits.max_images))
    async def read(request: Request):
        """Read one or many captcha images (multipart files, JSON base64, or one raw image body).

        Options (form fields, JSON fields or query parameters): `model` (a name from /v1/models),
        `min_confidence` (0-1): a reading below it has `abstained: true`, and what you know of these
        captchas (Keras models): `length` (N or LOW-HIGH characters; ctc models) and `chars` (the
        characters they use), which the answer repeats. An empty reading (no character) has a confidence
        too: the probability that the captcha holds nothing to read.
        """
        parsed = await read_images(request, limits)
        name = models[0].name if parsed.model is None else parsed.model
        for asked in (name, parsed.other_model):
            if asked is not None and asked not in by_name:
                return error(404, f"unknown model {asked!r}; loaded: {', '.join(by_name)}")
        model = by_name[name]
        try:  # what the request tells of its captchas, checked before any reading (nothing told: as the model reads)
            finish = model.finisher(parsed.length, parsed.chars)
        except UserError as err:
            return error(400, str(err))
        threshold = min_confidence if parsed.min_confidence is None else parsed.min_confidence
        if len(parsed.images) <= INLINE_IMAGES:  # a thread hop costs more than decoding one small captcha
            prepared = _prepare_all(model, parsed.images, limits)
        else:
            prepared = await run_in_threadpool(_prepare_all, model, parsed.images, limits)
        good = [i for i, p in enumerate(prepared) if p.array is not None]
        readings = await batchers[name].read(np.stack([prepared[i].array for i in good]), finish) if good else []
        results: list[dict] = [{"file": n, "error": p.error} for (n, _), p in zip(parsed.images, prepared)]
        for i, pred in zip(good, readings):
            results[i] = {"file": parsed.images[i][0], "text": pred.text, "confidence": pred.confidence,
                          "abstained": pred.confidence < threshold,
                          "positions": [{"char": c, "confidence": p} for c, p in pred.positions] or None}
        if not good:
            status = 413 if all(p.too_large for p in prepared) else 400
            message = prepared[0].error if len(prepared) == 1 else \
                f"none of the {len(prepared)} images could be read ({prepared[0].error}; ...)"
            return JSONResponse({"error": message, "results": results}, status_code=status)
        told = {"length": None if parsed.length is None else dict(zip(("min", "max"), parsed.length)),
                "chars": parsed.chars}
        return JSONResponse({"model": name, "min_confidence": threshold,
                             **{k: v for k, v in told.items() if v is not None}, "results": results})

    direct[("POST", "/v1/read")] = read

    if label_session is not None:
        _add_labeling(app, label_session)
    else:
        @app.get("/", include_in_schema=False)
        async def home():
            return RedirectResponse("/docs")

    writes += [r for r in app.routes if isinstance(r, APIRoute) and r.methods & UNSAFE_METHODS
               and r.path != "/v1/read"]
    files = sorted(label_session.reads) if label_session is not None else None

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = contract.finish(
                get_openapi(title=app.title, version=__version__, summary=app.summary, routes=app.routes),
                files, access.token is not None, set(PUBLIC_PATHS))
        return app.openapi_schema

    app.openapi = openapi
    return app


def _methods(app: FastAPI, path: str) -> set[str]:
    """The methods of every route whose path matches `path`."""
    found: set[str] = set()
    for route in app.routes:
        regex, methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and methods and regex.match(path):
            found |= set(methods)
    return found


class DirectRoutes:
    """ASGI middleware: a request to one of `routes` goes straight to its endpoint.

    The hot route, `POST /v1/read`, skips FastAPI's routing, exception middleware and per-request
    exit stack: CPU time that a single-image request otherwise pays on top of its reading
    (docs/measurements.md, Serving). The endpoint is the same function FastAPI documents and would
    call, and a client mistake gets the same 4xx answer; every other request goes through FastAPI.
    """

    def __init__(self, app, routes: dict):
        self.app, self.routes = app, routes

    async def __call__(self, scope, receive, send):
        endpoint = self.routes.get((scope.get("method"), scope.get("path"))) if scope["type"] == "http" else None
        if endpoint is None:
            return await self.app(scope, receive, send)
        try:
            response = await endpoint(Request(scope, receive))
        except RequestError as err:
            response = error(err.status, str(err))
        await response(scope, receive, send)


class _Prepared(NamedTuple):
    array: np.ndarray | None
    error: str | None = None
    too_large: bool = False


def _prepare_all(model: Reader, images: list[tuple[str, bytes]], limits: Limits) -> list[_Prepared]:
    """Decode and prepare each image; a bad one gets its error and does not stop the others."""
    out = []
    for name, data in images:
        try:
            out.append(_Prepared(model.prepare(open_image(data, limits.max_pixels, IMAGE_FORMATS, name))))
        except UserError as err:  # the message names the image as the client did
            out.append(_Prepared(None, str(err), isinstance(err, ImageTooLarge)))
    return out


def _add_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the swagger-ui-bundle package, so the docs work with no network."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="captcha_ocr API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon-32x32.png")


def _add_labeling(app: FastAPI, session: LabelSession) -> None:
    """The labeling page at /label (and /) and its JSON routes under /v1/label."""

    @app.get("/", include_in_schema=False)
    async def home():
        return RedirectResponse("/label")

    @app.get("/label", include_in_schema=False)
    async def page():
        return HTMLResponse((STATIC / "label.html").read_text(encoding="utf-8"))

    state_answer = {200: {"model": contract.LabelState}}

    @app.get("/v1/label/state", responses={**state_answer, **errors(*EVERY_ROUTE)})
    async def state():
        """Progress (labeled / total), the model's agreement with the person so far, and the next captcha."""
        return session.state()

    @app.get("/v1/label/images/{file}", response_class=Response, responses={
        200: {"description": "the image file", "content": {
            kind: {"schema": {"type": "string", "format": "binary"}} for kind in contract.IMAGE_TYPES}},
        **errors(*EVERY_ROUTE, 404)})
    async def image(file: str):
        """An image of the labeling folder, by its file name."""
        try:
            return FileResponse(session.image_path(file), headers={"Cache-Control": "no-store"})
        except KeyError:
            return error(404, f"no image {file!r} in the labeling folder")

    @app.post("/v1/label/images/{file}", responses={**state_answer, **errors(*EVERY_ROUTE, 404)})
    async def label(file: str, body: LabelBody):
        """Save the label of one image (the model's reading accepted, or corrected); written to labels.csv.

        The label's characters must be in the session's charset (`charset` in the state); a label with
        others is refused (400, `unknown` naming them) until they are confirmed in `add_chars`.
        """
        return await _session_call(session.label, file, body.text, body.add_chars)

    @app.post("/v1/label/skip", responses={**state_answer, **errors(*EVERY_ROUTE, 404)})
    async def skip(body: FileBody):
        """Move an image to the end of the queue without labeling it."""
        return await _session_call(session.skip, body.file)

    @app.post("/v1/label/undo", responses={**state_answer, **errors(*EVERY_ROUTE, 409)})
    async def undo(body: UndoBody):
        """Take back the last label given since the server started (the body: `{}`)."""
        return await _session_call(session.undo)


async def _session_call(method, *args):
    try:
        return await run_in_threadpool(method, *args)
    except KeyError as err:
        return error(404, f"no image {err.args[0]!r} in the labeling folder")
    except UnknownCharacters as err:
        return error(400, str(err), unknown=err.chars)
    except NothingToUndo as err:
        return error(409, str(err))
    except UserError as err:
        return error(400, str(err))
