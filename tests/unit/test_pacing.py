"""The per-registry request pacer: slots spaced by 1/rate, shared across threads."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regscout.registries.pacing import RequestPacer, pacer_for


def test_slots_are_spaced_by_the_interval_and_idle_time_is_not_banked() -> None:
    pacer = RequestPacer(4)  # one request per 0.25 s
    assert [pacer.reserve(now=10.0) for _ in range(3)] == [0.0, 0.25, 0.5]
    assert pacer.reserve(now=100.0) == 0.0  # a long pause earns no burst
    assert pacer.reserve(now=100.0) == 0.25


@given(rate=st.floats(0.5, 1000), count=st.integers(2, 50))
def test_n_requests_at_once_are_spread_over_n_minus_one_intervals(rate: float, count: int) -> None:
    pacer = RequestPacer(rate)
    waits = [pacer.reserve(now=0.0) for _ in range(count)]
    assert waits == sorted(waits)
    assert waits[-1] == pytest.approx((count - 1) / rate)


def test_threads_share_one_schedule_per_registry() -> None:
    pacer = pacer_for("https://hub.example:", 10)
    assert pacer_for("https://hub.example:", 10) is pacer and pacer_for("https://other.example:", 10) is not pacer
    waits: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        wait = pacer.reserve(now=5.0)
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=take) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(round(w, 6) for w in waits) == [round(i / 10, 6) for i in range(20)]


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="above zero"):
        RequestPacer(0)
