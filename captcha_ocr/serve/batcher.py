"""Micro-batching: requests that arrive together are read in one model call.

Each request hands its arrays to `MicroBatcher.read` and awaits its results.
One task drains the queue: it takes the first waiting request, gathers the
others that arrive within `max_wait` seconds (or until `max_batch` images),
and runs the model once on all of them in a worker thread, so the event loop
keeps accepting requests while the model runs. Under load the batches form by
themselves from the requests that queued during the previous model call.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np


class MicroBatcher:
    """Gathers concurrent requests' images into batches for one model.

    Args:
        run: reads a batch (n, H, W, C) and returns n results, in order.
        max_batch: images per model call at most (a single larger request is still read whole).
        max_wait: seconds to wait for more requests after the first, when the queue is empty.
    """

    def __init__(self, run: Callable[[np.ndarray], list], max_batch: int = 64, max_wait: float = 0.002):
        self.run, self.max_batch, self.max_wait = run, max_batch, max_wait
        self.calls = 0  # model calls so far, and the images they read: their ratio is the mean batch
        self.images = 0
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="model")

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._drain())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def read(self, arrays: np.ndarray) -> list:
        """Queue one request's arrays (n, H, W, C) and wait for its n results."""
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not awaited")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((arrays, future))
        return await future

    async def _gather(self) -> list[tuple[np.ndarray, asyncio.Future]]:
        loop = asyncio.get_running_loop()
        pending = [await self._queue.get()]
        count = len(pending[0][0])
        deadline = loop.time() + self.max_wait
        while count < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
            pending.append(item)
            count += len(item[0])
        return pending

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            pending = await self._gather()
            pending = [(a, f) for a, f in pending if not f.done()]  # a client that went away needs no reading
            if not pending:
                continue
            batch = np.concatenate([a for a, _ in pending])
            try:
                results = await loop.run_in_executor(self._executor, self.run, batch)
            except Exception as err:  # a model failure answers every waiting request, and the service goes on
                for _, future in pending:
                    if not future.done():
                        future.set_exception(err)
                continue
            self.calls += 1
            self.images += len(batch)
            start = 0
            for arrays, future in pending:
                if not future.done():
                    future.set_result(results[start:start + len(arrays)])
                start += len(arrays)
