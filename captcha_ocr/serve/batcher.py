"""Micro-batching: requests that arrive together are read in one model call.

Each request hands its arrays to `MicroBatcher.read` and awaits its results.
Model threads of the batcher's own drain the queue: each takes the first
waiting request, gathers the others that arrive within `max_wait` seconds (or
until `max_batch` images), runs the model once on all of them, and hands each
request its results on its event loop (each request's part finished its own
way first where it asks: say, decoded to the lengths its captchas have). A
thread starts its next batch as soon as one is done, without waiting for the
event loop to get round to it.

With several threads, batches are read side by side while the event loop
parses requests and decodes images. The service then gives each model call
one core (TensorFlow's intra-op threads set to 1): on 2 cores, two
single-threaded calls keep both busy, where one call split over both cores
stalls whenever the event loop takes one of them.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from typing import Callable, NamedTuple

import numpy as np

_STOP = None  # queued once per thread by stop()


class _Request(NamedTuple):
    """One request waiting in the queue."""

    arrays: np.ndarray  # its images (n, H, W, C)
    future: asyncio.Future  # what its handler awaits
    loop: asyncio.AbstractEventLoop  # the event loop the future belongs to
    finish: Callable | None  # what turns its part of a batch's results into its own (None: as they are)


def _settle(answers: list[tuple[asyncio.Future, object, BaseException | None]]) -> None:
    """Hands each request of a batch its results (or the error), on their event loop."""
    for future, result, error in answers:
        if future.done():  # the client went away and its request was cancelled
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


def _answer(pending: list[_Request], answers: list) -> None:
    """One wake-up per event loop for a whole batch, rather than one per request."""
    by_loop: dict = {}
    for request, (result, error) in zip(pending, answers):
        by_loop.setdefault(request.loop, []).append((request.future, result, error))
    for loop, items in by_loop.items():
        loop.call_soon_threadsafe(_settle, items)


class MicroBatcher:
    """Gathers concurrent requests' images into batches for one model.

    Args:
        run: reads a batch (n, H, W, C) and returns n results, in order.
        max_batch: images per model call at most (a single larger request is still read whole).
        max_wait: seconds to wait for more requests after the first, when the queue is empty.
        threads: model calls that may run at once (`run` must then be safe to call from several threads).
    """

    def __init__(self, run: Callable[[np.ndarray], list], max_batch: int = 64, max_wait: float = 0.002,
                 threads: int = 1):
        self.run, self.max_batch, self.max_wait, self.threads = run, max_batch, max_wait, threads
        self.calls = 0  # model calls so far, and the images they read: their ratio is the mean batch
        self.images = 0
        self._count_lock = threading.Lock()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []

    async def start(self) -> None:
        self._workers = [threading.Thread(target=self._serve, name=f"model-{i}", daemon=True)
                         for i in range(self.threads)]
        for worker in self._workers:
            worker.start()

    async def stop(self) -> None:
        for _ in self._workers:
            self._queue.put(_STOP)
        for worker in self._workers:
            await asyncio.to_thread(worker.join)
        self._workers = []

    async def read(self, arrays: np.ndarray, finish: Callable | None = None) -> list:
        """Queue one request's arrays (n, H, W, C) and wait for its n results, passed through `finish` (in the
        model thread) when given; an error `finish` raises answers this request only."""
        if not self._workers:
            raise RuntimeError("MicroBatcher.start() was not awaited")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Request(arrays, future, loop, finish))
        return await future

    def _gather(self) -> list[_Request] | None:
        """The requests of a model thread's next batch; None when the batcher stops."""
        first = self._queue.get()
        if first is _STOP:
            return None
        pending, count = [first], len(first.arrays)
        deadline = time.monotonic() + self.max_wait
        while count < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if item is _STOP:
                self._queue.put(_STOP)  # this thread's stop: read the batch gathered so far first
                break
            pending.append(item)
            count += len(item.arrays)
        return pending

    def _serve(self) -> None:
        while (pending := self._gather()) is not None:
            pending = [p for p in pending if not p.future.done()]  # a client that went away needs no reading
            if not pending:
                continue
            batch = np.concatenate([p.arrays for p in pending])
            try:
                results = self.run(batch)
            except BaseException as err:  # a model failure answers every waiting request, and the service goes on
                error = err if isinstance(err, Exception) else RuntimeError(repr(err))
                _answer(pending, [(None, error)] * len(pending))
                continue
            with self._count_lock:
                self.calls += 1
                self.images += len(batch)
            ends = np.cumsum([len(p.arrays) for p in pending])
            _answer(pending, [_finish(p.finish, results[end - len(p.arrays):end]) for p, end in zip(pending, ends)])


def _finish(finish: Callable | None, part) -> tuple[object, Exception | None]:
    """A request's part of a batch's results, finished its way: (results, None) or (None, the error)."""
    try:
        return (part if finish is None else finish(part)), None
    except Exception as err:
        return None, err
