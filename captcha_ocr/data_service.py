"""Render the synthetic training stream on other machines, through TensorFlow's tf.data service.

The library behind it: `captcha_ocr.data.service`.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import time
from typing import Sequence

from captcha_ocr.core.cli import run_cli
from captcha_ocr.core.errors import UserError
from captcha_ocr.data.service import register, service_address


def _serve(server, what: str) -> int:
    """Keep `server` (running in TensorFlow's threads) up until Ctrl-C or SIGTERM; then end the rendering
    processes and exit at once (an orderly interpreter exit can wait forever on a thread that serves a request)."""
    import multiprocessing

    def stop(*_):
        for child in multiprocessing.active_children():
            child.terminate()
        os._exit(0)

    print(f"{what}; Ctrl-C stops it", flush=True)
    signal.signal(signal.SIGTERM, stop)
    try:
        while True:  # not server.join(): a blocking C++ call would hold Python's signal handlers off
            time.sleep(3600)
    except KeyboardInterrupt:
        stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    from captcha_ocr.core.cli import int_at_least, parser

    p = parser("python -m captcha_ocr.data_service", "tf.data service processes that render the synthetic "
               "training stream on other machines (train with --set data.service=grpc://HOST:PORT).")
    sub = p.add_subparsers(dest="role", required=True)
    d = sub.add_parser("dispatcher", help="hands chunks of captchas to the workers; one per cluster")
    d.add_argument("--port", type=int_at_least(1), default=5050)
    w = sub.add_parser("worker", help="renders captchas; one per machine")
    w.add_argument("--dispatcher", required=True, help="HOST:PORT of the dispatcher")
    w.add_argument("--port", type=int_at_least(0), default=0, help="this worker's port (default: any free one)")
    w.add_argument("--host", default="localhost",
                   help="the name by which the trainer reaches this worker (default localhost)")
    w.add_argument("--processes", type=int_at_least(0), default=0,
                   help="rendering processes (default: one per core)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import tensorflow as tf

    service = tf.data.experimental.service
    try:
        if args.role == "dispatcher":
            server = service.DispatchServer(service.DispatcherConfig(port=args.port))
            return _serve(server, f"tf.data dispatcher at grpc://{socket.gethostname()}:{args.port}")
        from captcha_ocr.core.workers import worker_count

        dispatcher = args.dispatcher.removeprefix("grpc://")
        service_address(f"grpc://{dispatcher}")
        processes = worker_count(args.processes)
        register(processes)
        server = service.WorkerServer(service.WorkerConfig(dispatcher_address=dispatcher, port=args.port,
                                                           worker_address=f"{args.host}:%port%"))
        return _serve(server, f"tf.data worker ({processes} rendering processes) for dispatcher {dispatcher}")
    except (tf.errors.OpError, RuntimeError) as e:
        raise UserError(f"{args.role}: {str(e).splitlines()[0]} (is port {args.port} free?)") from None


if __name__ == "__main__":
    run_cli(main)
