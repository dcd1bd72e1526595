"""Child processes that do not outlive what started them (Linux), and a service process's heap once started."""

from __future__ import annotations

import ctypes
import gc
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """prctl(PR_SET_PDEATHSIG, SIGTERM): when the process that started this one dies, even by kill -9, this one is
    told to stop, so no server or gateway worker outlives `make run`, its supervisor or a test session."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def freeze_startup_heap() -> None:
    """Before a service process starts serving: collect, then move every object alive now (the imported modules and
    the app built from them: over 100,000 in the gateway) out of the garbage collector's sight (`gc.freeze`). They
    live as long as the process, yet every full collection walked them again: milliseconds to tens of them in which
    the process answers nothing, most often when it is busiest (a connection storm makes the objects that trigger
    full collections). Called by the process's entry point only, never in a test's process."""
    gc.collect()
    gc.freeze()
