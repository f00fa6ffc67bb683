"""Worker processes for rendering and image loading: how many, and a pool that is safe beside TensorFlow.

TensorFlow-free, so that generator and folder workers stay light.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context


def worker_count(requested: int = 0) -> int:
    """`requested` workers, or one per available core when 0."""
    if requested > 0:
        return requested
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of `spawn`ed processes: TensorFlow is not fork-safe once it has run."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
