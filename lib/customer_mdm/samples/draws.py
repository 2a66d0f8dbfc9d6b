"""Counter-based random draws: every value is a hash of (seed, purpose, keys).

A sequential generator makes each value depend on how many were drawn before
it, so chunk sizes, file order or one changed rate would shift everything
after them. Hashing instead gives the same value for the same record and
purpose however the work is split, and two profiles that differ in one rate
differ only in what that rate controls.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray

U64 = NDArray[np.uint64]
I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
Mask = NDArray[np.bool_]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)


def _mix(x: U64) -> U64:
    """The splitmix64 finaliser: a bijection that scrambles every input bit."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * _MUL1
        x = x ^ (x >> np.uint64(27))
        x = x * _MUL2
        return x ^ (x >> np.uint64(31))


@lru_cache(maxsize=None)
def _salt(purpose: str) -> np.uint64:
    return np.uint64(int.from_bytes(hashlib.blake2b(purpose.encode(), digest_size=8).digest(), "little"))


class Draws:
    """Deterministic random values keyed by integer arrays (record or entity numbers)."""

    def __init__(self, seed: int):
        self.seed = np.uint64(seed % 2**64)

    def bits(self, purpose: str, *keys: ArrayLike) -> U64:
        with np.errstate(over="ignore"):
            state = _mix(np.asarray(self.seed ^ _salt(purpose), dtype=np.uint64))
            for key in keys:
                state = _mix(state ^ (np.asarray(key, dtype=np.int64).astype(np.uint64) * _GOLDEN))
        return np.asarray(state, dtype=np.uint64)

    def uniform(self, purpose: str, *keys: ArrayLike) -> F64:
        """Floats in [0, 1) from the top 53 bits."""
        return (self.bits(purpose, *keys) >> np.uint64(11)).astype(np.float64) * 2.0**-53

    def below(self, rate: float, purpose: str, *keys: ArrayLike) -> Mask:
        return self.uniform(purpose, *keys) < rate

    def integers(self, high: ArrayLike, purpose: str, *keys: ArrayLike) -> I64:
        """Integers in [0, high); ``high`` may vary per element."""
        return np.floor(self.uniform(purpose, *keys) * np.asarray(high)).astype(np.int64)

    def weighted(self, cumulative: F64, purpose: str, *keys: ArrayLike) -> I64:
        """Indexes drawn with the weights whose running total is ``cumulative``."""
        target = self.uniform(purpose, *keys) * cumulative[-1]
        return np.searchsorted(cumulative, target, side="right").astype(np.int64)
