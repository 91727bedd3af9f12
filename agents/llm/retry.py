"""When and how long to wait before sending a failed request again.

Retried: 408, 409, 429 and 5xx responses, timeouts and connection errors.
Not retried: every other 4xx (a bad request, a bad key, an unknown model).
The wait is the server's ``Retry-After`` (or ``retry-after-ms``) when it sends
one, otherwise ``initial * factor**k`` scaled by a seeded jitter in
``[1 - jitter, 1]``, and never more than ``max_wait``.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = ["RETRY_STATUSES", "RetryPolicy", "is_retryable", "parse_retry_after"]

RETRY_STATUSES = frozenset({408, 409, 429})


def is_retryable(status: int | None) -> bool:
    """Whether a response with HTTP *status* is worth retrying (``None``: no response)."""
    return status is None or status in RETRY_STATUSES or status >= 500


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    lower = {k.lower(): v for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms is not None:
        try:
            return max(float(ms) / 1000.0, 0.0)
        except ValueError:
            pass
    value = lower.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


@dataclass
class RetryPolicy:
    """Exponential back-off with seeded jitter.

    Parameters
    ----------
    max_retries
        Retries after the first request (so at most ``max_retries + 1`` requests).
    initial, factor
        The first wait in seconds and its growth per retry.
    jitter
        Fraction of the wait drawn at random: the wait is scaled by ``U(1 - jitter, 1)``.
    max_wait
        Upper bound on any single wait, ``Retry-After`` included.
    seed
        Seed (or generator) of the jitter, for reproducible waits.
    """

    max_retries: int = 4
    initial: float = 0.5
    factor: float = 2.0
    jitter: float = 0.25
    max_wait: float = 60.0
    seed: int | np.random.Generator | None = None
    rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries!r}")
        if self.initial < 0 or self.factor < 1:
            raise ValueError(
                f"backoff needs initial >= 0 and factor >= 1, got ({self.initial!r}, {self.factor!r})"
            )
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be in [0, 1], got {self.jitter!r}")
        self.rng = np.random.default_rng(self.seed)

    def wait(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number *retry* (0-based)."""
        if retry_after is not None:
            return min(retry_after, self.max_wait)
        base = self.initial * self.factor**retry
        scale = 1.0 - self.jitter * float(self.rng.random())
        return min(base * scale, self.max_wait)
