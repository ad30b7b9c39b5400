"""The reconnect policy: its schedule of waits, its limits and its validation."""

from __future__ import annotations

import pytest

from ipyws import Reconnect, ReconnectEvent, WebSocket
from ipyws._reconnect import policy_of


def test_defaults_follow_the_usual_clients() -> None:
    """By default: about 1 s first, doubling to a 30 s cap, half jittered, reset after 5 s."""
    policy = Reconnect()
    assert (policy.initial_delay, policy.max_delay, policy.factor) == (1.0, 30.0, 2.0)
    assert (policy.jitter, policy.max_attempts, policy.reset_after) == (0.5, None, 5.0)
    assert [policy.nominal_delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_each_delay_is_drawn_from_the_upper_part_of_its_range() -> None:
    """delay(n) lies in [nominal * (1 - jitter), nominal] and varies between draws."""
    policy = Reconnect(initial_delay=1.0, max_delay=8.0, jitter=0.25)
    for attempt in range(1, 10):
        top = policy.nominal_delay(attempt)
        draws = [policy.delay(attempt) for _ in range(50)]
        assert all(top * 0.75 <= d <= top for d in draws)
        assert len(set(draws)) > 1


def test_no_jitter_gives_the_nominal_delay() -> None:
    """jitter=0 makes every wait exactly the nominal one."""
    policy = Reconnect(initial_delay=0.5, max_delay=3.0, factor=3.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 5)] == [0.5, 1.5, 3.0, 3.0]


def test_huge_attempt_numbers_stay_at_the_cap() -> None:
    """An attempt count that would overflow the power stays at max_delay."""
    assert Reconnect(factor=10.0).nominal_delay(10_000) == 30.0


def test_max_attempts_gives_up_after_that_many() -> None:
    """gives_up(n) is true once n attempts in a row reach max_attempts (never when None)."""
    assert [Reconnect(max_attempts=2).gives_up(n) for n in (0, 1, 2, 3)] == [
        False,
        False,
        True,
        True,
    ]
    assert not Reconnect().gives_up(10**9)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"initial_delay": -1}, ValueError),
        ({"max_delay": float("inf")}, ValueError),
        ({"factor": 0.5}, ValueError),
        ({"jitter": 1.5}, ValueError),
        ({"initial_delay": 10.0, "max_delay": 1.0}, ValueError),
        ({"max_attempts": 0}, ValueError),
        ({"max_attempts": 1.5}, ValueError),
        ({"initial_delay": "1"}, TypeError),
        ({"reset_after": True}, TypeError),
    ],
)
def test_invalid_policies_are_refused(options: dict[str, object], error: type[Exception]) -> None:
    """A policy with a negative, infinite, non-number or inconsistent value raises at once."""
    with pytest.raises(error):
        Reconnect(**options)  # type: ignore[arg-type]


def test_reconnect_argument_values() -> None:
    """reconnect=True gives the default policy, None/False none, a policy itself."""
    policy = Reconnect(max_attempts=3)
    assert policy_of(True) == Reconnect()
    assert policy_of(None) is None
    assert policy_of(False) is None
    assert policy_of(policy) is policy
    with pytest.raises(TypeError, match="reconnect must be True, False, None or an ipyws"):
        policy_of(3)  # type: ignore[arg-type]


def test_constructor_refuses_a_bad_reconnect_argument() -> None:
    """WebSocket(url, reconnect=...) with anything but a bool, None or a policy is a TypeError."""
    with pytest.raises(TypeError):
        WebSocket("ws://127.0.0.1:9/", reconnect="yes")  # type: ignore[arg-type]


def test_reconnect_event_fields() -> None:
    """ReconnectEvent carries attempt, delay and the last close's code, reason and wasClean."""
    event = ReconnectEvent("reconnect", attempt=2, delay=1.5, code=1006, reason="", wasClean=False)
    assert (event.type, event.attempt, event.delay, event.code) == ("reconnect", 2, 1.5, 1006)
    assert (event.reason, event.wasClean, event.isTrusted) == ("", False, False)
    assert repr(event) == "<ReconnectEvent type='reconnect' attempt=2 delay=1.5 code=1006>"
