"""Child processes that do not outlive what started them (Linux)."""

from __future__ import annotations

import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """prctl(PR_SET_PDEATHSIG, SIGTERM): when the process that started this one dies, even by kill -9, this one is
    told to stop, so no server or gateway worker outlives `make run`, its supervisor or a test session."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
