"""captcha_ocr.serve.batcher: requests' images gathered into model calls, read by one or several model threads."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from captcha_ocr.serve.batcher import MicroBatcher


class SlowModel:
    """Reads a batch as each image's first pixel times 10, slowly, and records how many calls overlap."""

    def __init__(self, seconds: float = 0.02, fail_on: int | None = None):
        self.seconds, self.fail_on = seconds, fail_on
        self.running = self.most_at_once = 0
        self.batches: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> list[int]:
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.batches.append(len(batch))
        try:
            time.sleep(self.seconds)
            if self.fail_on is not None and self.fail_on in batch[:, 0, 0, 0]:
                raise RuntimeError("the model failed")
            return [int(v) * 10 for v in batch[:, 0, 0, 0]]
        finally:
            with self.lock:
                self.running -= 1


def image(value: int, n: int = 1) -> np.ndarray:
    return np.full((n, 2, 2, 1), value, np.uint8)


async def read_all(batcher: MicroBatcher, requests: list[np.ndarray]) -> list:
    await batcher.start()
    try:
        return await asyncio.gather(*(batcher.read(r) for r in requests), return_exceptions=True)
    finally:
        await batcher.stop()


@pytest.mark.parametrize("threads", [1, 2])
def test_each_request_gets_its_own_results(threads):
    model = SlowModel()
    batcher = MicroBatcher(model, max_batch=8, max_wait=0.005, threads=threads)
    requests = [image(i, 1 + i % 3) for i in range(40)]
    answers = asyncio.run(read_all(batcher, requests))
    assert answers == [[i * 10] * (1 + i % 3) for i in range(40)]
    assert batcher.images == sum(len(r) for r in requests) and batcher.calls == len(model.batches)
    assert batcher.calls < len(requests) and max(model.batches) <= 8 + 2  # gathered, and bounded (one request past)
    assert model.most_at_once == threads  # two threads really read side by side; one never overlaps


def test_a_failing_call_answers_its_requests_and_the_rest_are_read():
    model = SlowModel(fail_on=3)
    batcher = MicroBatcher(model, max_batch=1, max_wait=0, threads=2)
    answers = asyncio.run(read_all(batcher, [image(i) for i in range(6)]))
    assert isinstance(answers[3], RuntimeError)
    assert [a for i, a in enumerate(answers) if i != 3] == [[0], [10], [20], [40], [50]]


def test_stop_ends_every_model_thread():
    batcher = MicroBatcher(SlowModel(0.0), threads=3)
    before = set(threading.enumerate())
    asyncio.run(read_all(batcher, [image(1)]))
    # No thread started since is still alive (a count would also move when an earlier test's thread ends).
    assert [t.name for t in threading.enumerate() if t not in before] == []
    with pytest.raises(RuntimeError, match="start"):
        asyncio.run(batcher.read(image(1)))


def test_each_request_finishes_its_own_part_and_a_failing_finish_answers_only_its_request():
    def fail(part):
        raise ValueError("cannot finish")

    async def read_finished():
        batcher = MicroBatcher(SlowModel(), max_batch=16, max_wait=0.05)
        await batcher.start()
        try:
            return await asyncio.gather(batcher.read(image(1, 2), lambda part: [v + 1 for v in part]),
                                        batcher.read(image(2), fail), batcher.read(image(3, 3)),
                                        return_exceptions=True)
        finally:
            await batcher.stop()

    plus_one, failed, untouched = asyncio.run(read_finished())
    assert plus_one == [11, 11] and untouched == [30, 30, 30]
    assert isinstance(failed, ValueError)
