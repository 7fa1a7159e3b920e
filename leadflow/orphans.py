"""Child processes that do not outlive LeadFlow. Imports nothing of ours or of a
client library: `leadflow.processes` starts its children before it imports those."""

from __future__ import annotations

import contextlib
import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """A `preexec_fn`: if LeadFlow is SIGKILLed, the kernel stops this child too
    instead of orphaning it (Linux; elsewhere nothing happens)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
