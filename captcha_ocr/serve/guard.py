"""Who may talk to the service, and what a failure looks like: the ASGI middleware in front of every route.

The threat is a web page the person has open in the same browser. It can
send a request to 127.0.0.1 without asking (a "simple" cross-site request:
no preflight, the answer unreadable to it, the side effect done all the
same), and through DNS rebinding it can make its own name point at this
machine and read the answers too. `Guard` stops both:

- **Host.** A request whose `Host` is not a name of this server (the bound
  address, `localhost`, `127.0.0.1`, `[::1]`, and each `--allowed-host`) is
  refused: a rebound name never matches.
- **Writes.** A route that changes state (labeling, skipping, undoing, and
  any later `POST`, `PUT`, `PATCH` or `DELETE` route but `/v1/read`) takes
  only `Content-Type: application/json`, which a page on another origin
  cannot send without a preflight that this server never grants; and every
  unsafe request whose `Origin` (or `Sec-Fetch-Site`) names another site is
  refused, `/v1/read` included.
- **Token.** With a token (`--token`, required when the service listens on
  an address other than loopback), every route but the page shell, the API
  documents and `/health` needs `Authorization: Bearer <token>`.

Each refusal is a 403 (401 for a missing or wrong token) with the one-line
JSON error of every other refusal, and is logged. A handler that raises is
answered with a JSON 500 and logged with its traceback: never a plain-text page.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import socket
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from starlette.requests import ClientDisconnect

from captcha_ocr.core.cli import logger

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Routes a browser loads without headers of its own (the page, its scripts, the API documents) and the
# liveness probe: no token needed. Everything under /v1 needs it.
PUBLIC_PATHS = frozenset({"/", "/label", "/docs", "/openapi.json", "/health"})
PUBLIC_PREFIXES = ("/static/", "/docs-assets/")
DEFAULT_PORTS = {"http": 80, "https": 443}
TOKEN_ENV = "CAPTCHA_OCR_TOKEN"
MIN_TOKEN_LENGTH = 16


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or address to listen on) is this machine only."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts(bind: str, extra: list[str] = ()) -> frozenset[str]:
    """The `Host` names the service answers: loopback, the bound address and `extra`.

    On a wildcard address (0.0.0.0, ::) the machine's own name and its addresses are added too;
    any other name clients use goes in `extra` (`--allowed-host`).
    """
    names = set(LOOPBACK_NAMES) | {host_name(bind)} | {host_name(h) for h in extra}
    if host_name(bind) in ("0.0.0.0", "::", ""):
        hostname = socket.gethostname()
        names |= {hostname.lower(), socket.getfqdn(hostname).lower()}
        try:
            names |= {info[4][0].lower() for info in socket.getaddrinfo(hostname, None)}
        except OSError:
            pass
    return frozenset(n for n in names if n)


def split_host(value: str | bytes) -> tuple[str, str]:
    """(name, port) of a `Host` header or an address: the name lower case, without brackets or a final
    dot; the port as written, "" if there is none."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:8000
        name, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:  # name:port (a bare IPv6 address has several colons)
        name, _, port = value.partition(":")
    else:
        name, port = value, ""
    return name.rstrip("."), port


def host_name(value: str | bytes) -> str:
    """The name part of a `Host` header or an address (`split_host`)."""
    return split_host(value)[0]


def same_origin(origin: bytes, host: bytes) -> bool:
    """Whether a request's `Origin` is a page of this server as the client named it in `Host`."""
    try:
        parts = urlsplit(origin.decode("latin-1").strip().lower())
        origin_port = parts.port
    except ValueError:  # "null", a port that is not a number
        return False
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return False
    name, port = split_host(host)
    default = DEFAULT_PORTS[parts.scheme]
    return parts.hostname == name and str(origin_port or default) == (port or str(default))


@dataclass(frozen=True)
class Access:
    """Who may use the service: the `Host` names it answers and the token (None: no token).

    Args:
        hosts: `allowed_hosts(...)`; the default is loopback only.
        token: the bearer token every non-public route needs, or None.
    """

    hosts: frozenset[str] = LOOPBACK_NAMES
    token: str | None = None


class Guard:
    """ASGI middleware: the Host, Origin, content-type and token checks, and JSON for every failure.

    Args:
        writes: scope -> whether the request goes to a route that changes state.
    """

    def __init__(self, app, access: Access, writes: Callable[[dict], bool]):
        self.app, self.access, self.writes = app, access, writes
        self.token = access.token.encode() if access.token else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refusal = self.refusal(scope)
        if refusal is not None:
            status, message = refusal
            client = scope.get("client") or ("?", 0)
            logger.warning(f"refused {scope['method']} {scope['path']} from {client[0]}: {message}")
            headers = [(b"www-authenticate", b"Bearer")] if status == 401 else []
            return await send_error(send, status, message, headers)
        started = False

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:  # the client went away (or took too long, see connections.py): nobody to answer
            return
        except Exception as err:
            logger.error(f"{scope['method']} {scope['path']} failed: {type(err).__name__}: {err}", exc_info=err)
            if not started:
                await send_error(send, 500, f"the server failed on this request ({type(err).__name__}); it is "
                                            "logged: if it happens again, report it with the server's log")

    def refusal(self, scope) -> tuple[int, str] | None:
        """(status, message) if the request must be refused, else None."""
        host = origin = content_type = authorization = fetch_site = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"origin":
                origin = value
            elif name == b"content-type":
                content_type = value
            elif name == b"authorization":
                authorization = value
            elif name == b"sec-fetch-site":
                fetch_site = value
        if host is not None and host_name(host) not in self.access.hosts:
            return 403, (f"Host {host.decode('latin-1')[:100]!r} is not a name of this server; use "
                         f"http://127.0.0.1, or start it with --allowed-host NAME")
        if self.token is not None and not _public(scope["path"]):
            if authorization is None:
                return 401, "this server needs its token: send the header 'Authorization: Bearer <token>'"
            scheme, _, given = authorization.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(), self.token):
                return 401, "wrong token: send the header 'Authorization: Bearer <token>' with the server's token"
        if scope["method"] not in UNSAFE_METHODS:
            return None
        if fetch_site is not None and fetch_site not in (b"same-origin", b"none"):
            return 403, f"a cross-site request (Sec-Fetch-Site: {fetch_site.decode('latin-1')[:30]}) cannot change " \
                        "anything here; use the labeling page of this server"
        if origin is not None and (host is None or not same_origin(origin, host)):
            return 403, (f"a request from another site (Origin {origin.decode('latin-1')[:100]!r}) cannot change "
                         "anything here; use the labeling page of this server")
        if self.writes(scope):
            kind = (content_type or b"").split(b";")[0].strip().lower()
            if kind != b"application/json":
                return 403, (f"this route changes state and takes only Content-Type: application/json, "
                             f"got {kind.decode('latin-1')[:60] or '(none)'!r}; send a JSON body")
        return None


def _public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


async def send_error(send, status: int, message: str, headers: list[tuple[bytes, bytes]] = ()) -> None:
    """Answer `{"error": message}` with `status` straight on the ASGI `send`."""
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})
