"""The service's HTTP connections: deadlines, a cap on how many, and JSON for what the HTTP parser refuses.

uvicorn (with httptools) closes a keep-alive connection that stays idle after a
response, but nothing else: a connection that never sends a request, a client
that sends its headers or body a byte at a time, or one that declares a body
it never sends, each held a connection and its memory for as long as the
client liked. `protocol(...)` returns uvicorn's httptools protocol with:

- an idle deadline from the moment a connection opens, as after each response
  (`idle_timeout`): a connection that sends nothing is closed;
- a deadline for a request's headers from its first byte, and another for its
  body from the end of its headers (`request_timeout` each): a late client
  gets a 408 (when no answer has started) and the connection is closed; the
  handler waiting for the body sees the client gone and stops;
- a cap on a request's header bytes (431) and on open connections (the
  connection over the cap gets a 503 and is closed at once);
- the one-line JSON error for requests that the HTTP parser itself refuses
  (a malformed request line, header or `Content-Length: abc`), which uvicorn
  answers as plain text. Nothing the server reads is answered otherwise; what
  it cannot answer is a client that never sends a byte (closed after
  `idle_timeout`, as HTTP has nothing to say to it).
"""

from __future__ import annotations

import json

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024  # a request line and headers larger than this get 431
LINGER = 1.0  # seconds a refused connection is read (and dropped) before it closes, so that the answer arrives


def raw_error(status: int, message: str) -> bytes:
    """A whole HTTP/1.1 answer `{"error": message}` that closes the connection."""
    body = json.dumps({"error": message}).encode()
    return (STATUS_LINE[status] + b"content-type: application/json\r\ncontent-length: "
            + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with deadlines, caps and JSON refusals (see the module docstring).

    The limits are class attributes, set by `protocol(...)` on a subclass.
    """

    request_timeout: float = 30.0
    idle_timeout: float = 5.0
    max_connections: int = 256

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._deadline = None
        self._reading_head = True  # between requests, or in a request line and its headers
        self._head_bytes = 0  # bytes received while reading a head
        self._refused = False  # answered and closing: whatever else arrives is dropped
        if len(self.connections) > self.max_connections:
            self._refuse(503, f"the server has {self.max_connections} connections open, its limit; try again "
                              "in a few seconds")
            return
        # uvicorn arms its keep-alive timer only after a response: a connection that never sends a
        # request would otherwise stay open for good.
        self.timeout_keep_alive_task = self.loop.call_later(self.idle_timeout, self.timeout_keep_alive_handler)

    def connection_lost(self, exc) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn's own, but naming the parser's complaint in JSON (uvicorn answers it in plain text).
        if self._refused:
            return
        self._unset_keepalive_if_required()
        if self._reading_head:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError:  # a callback below refused the request and answered it
            self._refuse(400, "malformed request")
            return
        except httptools.HttpParserError as err:
            reason = str(err).strip() or "malformed request"
            self.logger.warning(f"malformed HTTP request: {reason}")
            self._refuse(400, f"not a valid HTTP/1.1 request ({reason[:100]}); check the request line, the "
                              "headers and Content-Length")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        if self._reading_head and self._head_bytes > MAX_HEAD_BYTES:  # headers still coming, a byte at a time
            self._refuse(431, self._head_too_large())

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, f"{msg.rstrip('.')}; check the request line, the headers and Content-Length")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._set_deadline(self._headers_late)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        size = len(self.url) + sum(len(name) + len(value) for name, value in self.headers)
        if size > MAX_HEAD_BYTES:  # arrived in one piece with the request line
            self._refuse(431, self._head_too_large())
            raise ValueError("headers too large")  # stops the parser: the connection is closing
        self._set_deadline(self._body_late)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._cancel_deadline()
        self._reading_head, self._head_bytes = True, 0
        super().on_message_complete()

    @staticmethod
    def _head_too_large() -> str:
        return f"the request line and headers pass {MAX_HEAD_BYTES // 1024} KB; send fewer or shorter headers"

    # --- deadlines

    def _set_deadline(self, handler) -> None:
        self._cancel_deadline()
        self._deadline = self.loop.call_later(self.request_timeout, handler)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_late(self) -> None:
        self._deadline = None
        if self.cycle is not None and not self.cycle.response_complete:  # still answering the one before
            self.transport.close()
            return
        self._refuse(408, f"the request's headers did not arrive within {self.request_timeout:g} s; send them at "
                          "once")

    def _body_late(self) -> None:
        self._deadline = None
        cycle = self.cycle
        message = f"the request body did not arrive within {self.request_timeout:g} s; send it at once, or fewer bytes"
        self.logger.warning("closing a connection: " + message.split(";")[0])
        if cycle is not None:
            # The handler waiting for the body gets `http.disconnect`, and whatever it answers is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
        if cycle is not None and not cycle.response_started:
            self._refuse(408, message)
        else:
            self.transport.close()

    def _refuse(self, status: int, message: str) -> None:
        """Answer `message` and close: the sending side at once, the connection after LINGER seconds.

        Closing while the client is still sending would make the kernel reset the connection, and
        the client could lose the answer; so what it sends meanwhile is read and dropped.
        """
        self._cancel_deadline()
        self._unset_keepalive_if_required()
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        self.transport.write(raw_error(status, message))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.flow.resume_reading()
        self.loop.call_later(LINGER, self.transport.close)


def protocol(request_timeout: float, idle_timeout: float, max_connections: int) -> type[GuardedProtocol]:
    """The protocol class to give `uvicorn.run(http=...)`, with these limits."""
    return type("ServiceProtocol", (GuardedProtocol,), {"request_timeout": request_timeout,
                                                        "idle_timeout": idle_timeout,
                                                        "max_connections": max_connections})
