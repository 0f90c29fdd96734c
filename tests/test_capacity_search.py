"""scripts/capacity.py's search: the rates it steps through and the capacity it reports, against a proxy
whose added p99 is a known function of the rate (no servers: the search is arithmetic on measured steps)."""

from __future__ import annotations

from collections.abc import Callable

from scripts.capacity import Step, search
from scripts.openloop import OpenLoopRun


def _proxy_that_holds_up_to(limit: float, tried: list[float]) -> Callable[[float], Step]:
    def step(rate: float) -> Step:
        tried.append(rate)
        direct = OpenLoopRun(rate, 1.0, [50.0] * 100, 0, 0.1)
        added = 2.0 if rate <= limit else 40.0
        return Step(rate, OpenLoopRun(rate, 1.0, [50.0 + added] * 100, 0, 0.1), direct, 0.5, 10.0)

    return step


def test_given_rates_are_stepped_up_to_the_first_failure() -> None:
    tried: list[float] = []
    capacity = search(_proxy_that_holds_up_to(500, tried), [800, 200, 400, 1600])
    assert tried == [200, 400, 800] and capacity.rate == 400


def test_without_rates_the_rate_doubles_then_bisects() -> None:
    tried: list[float] = []
    capacity = search(_proxy_that_holds_up_to(500, tried), start=100, refine=3)
    assert tried == [100, 200, 400, 800, 600, 500, 550]
    assert capacity.rate == 500


def test_a_step_with_errors_fails_however_fast_it_was() -> None:
    direct = OpenLoopRun(100, 1.0, [50.0] * 10, 0, 0.1)
    step = Step(100, OpenLoopRun(100, 1.0, [51.0] * 9, 1, 0.1), direct, 0.1, 10.0)
    assert step.added_p99_ms == 1.0 and not step.passed


def test_nothing_passing_is_a_capacity_of_zero() -> None:
    capacity = search(_proxy_that_holds_up_to(10, []), start=100, refine=2)
    assert [s.rate for s in capacity.steps] == [100, 50, 25] and capacity.rate == 0
