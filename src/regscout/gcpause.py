"""Pausing the cyclic garbage collector around allocation-heavy work that creates no reference cycles.

Decoding a batch of stored results allocates hundreds of thousands of small dicts, tuples and dataclasses that
live until the batch is written; the collector's passes over them doubled the time of a re-evaluation (measured
by bench/reevaluate). Reference counting still frees everything as usual while the collector is paused. Nested and
concurrent pauses are counted, so the collector comes back only when the last one ends, and only if it was on.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
