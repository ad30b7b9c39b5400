"""The reconnect policy: when a socket asked to reconnect tries again, and for how long.

Pure arithmetic, no I/O: the socket (``_websocket.py``) asks
[`Reconnect.delay`][ipyws.Reconnect.delay] for the wait before each attempt and
[`Reconnect.gives_up`][ipyws.Reconnect.gives_up] whether to stop; whichever transport carries the
connection, the schedule is the same.

The defaults follow the clients users know (reconnecting-websocket, partysocket, websockets'
``async for ws in connect()``): about 1 s before the first retry, doubling up to 30 s, each
wait drawn at random from its upper half so that many clients dropped at once by a server
restart do not all come back in the same instant, and a fresh start once a connection stayed
up ``reset_after`` seconds.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from ._text import type_name

__all__ = ["Reconnect", "policy_of"]


@dataclass(frozen=True)
class Reconnect:
    """Reconnect with a jittered exponential backoff: ``WebSocket(url, reconnect=Reconnect())``.

    The wait before attempt *n* (1, 2, ...) is ``min(max_delay, initial_delay * factor**(n-1))``
    scaled by a random factor in ``[1 - jitter, 1]``. Attempts count up while connections
    fail and start again from 1 once a connection stayed open ``reset_after`` seconds.

    Args:
        initial_delay: seconds before the first retry (before jitter).
        max_delay: the cap on any wait, in seconds.
        factor: how much each wait grows over the previous one (at least 1).
        jitter: the share of each wait drawn at random (0 = none, 1 = anywhere down to 0).
        max_attempts: give up after this many attempts in a row (None: never).
        reset_after: seconds a connection must stay open to count as healthy again.
    """

    initial_delay: float = 1.0
    max_delay: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5
    max_attempts: int | None = None
    reset_after: float = 5.0

    def __post_init__(self) -> None:
        for name in ("initial_delay", "max_delay", "factor", "jitter", "reset_after"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"Reconnect {name} must be a number, not {type_name(value)}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"Reconnect {name} must be a finite number >= 0, not {value!r}")
        if self.factor < 1:
            raise ValueError(f"Reconnect factor must be at least 1, not {self.factor!r}")
        if self.jitter > 1:
            raise ValueError(f"Reconnect jitter must be between 0 and 1, not {self.jitter!r}")
        if self.max_delay < self.initial_delay:
            raise ValueError(
                f"Reconnect max_delay ({self.max_delay!r}) is below initial_delay "
                f"({self.initial_delay!r})"
            )
        attempts = self.max_attempts
        if attempts is not None and (
            isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1
        ):
            raise ValueError(
                f"Reconnect max_attempts must be None or an int >= 1, not {attempts!r}"
            )

    def nominal_delay(self, attempt: int) -> float:
        """Return the wait before ``attempt`` (1, 2, ...) without jitter: the top of its range."""
        # Capped before raising to a power that could overflow on a feed left for weeks.
        exponent = min(attempt - 1, 1024)
        try:
            grown = self.initial_delay * self.factor**exponent
        except OverflowError:
            grown = math.inf
        return float(min(self.max_delay, grown))

    def delay(self, attempt: int) -> float:
        """Return the wait before ``attempt`` (1, 2, ...), jittered: a random value in its range."""
        top = self.nominal_delay(attempt)
        return top * (1.0 - self.jitter * random.random())

    def gives_up(self, attempts: int) -> bool:
        """Tell whether ``attempts`` failed attempts in a row exhaust the policy."""
        return self.max_attempts is not None and attempts >= self.max_attempts


def policy_of(reconnect: bool | Reconnect | None) -> Reconnect | None:
    """Return the policy a ``reconnect=`` argument asks for (None: behave like the browser)."""
    if reconnect is None or reconnect is False:
        return None
    if reconnect is True:
        return Reconnect()
    if isinstance(reconnect, Reconnect):
        return reconnect
    raise TypeError(
        f"reconnect must be True, False, None or an ipyws.Reconnect, not {type_name(reconnect)}"
    )
