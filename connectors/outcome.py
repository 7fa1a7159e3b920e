"""Small outcome types shared by the channel connectors' pure cores.

A connector's `normalize_*` function returns an `Inquiry` or an `Ignored` (an event
that is valid but is not an inquiry: a delivery status, an edit, a ringing call), so
the edge can count every drop by its reason instead of swallowing it. Signature checks
raise `SignatureError`, whose message is a sentence fit for a 401/403 problem+json.
No I/O here, and no imports of ours at all.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Ignored:
    """A well-formed event that is deliberately not an inquiry; `reason` is a metric label."""

    reason: str


class SignatureError(ValueError):
    """The request is not provably from the channel: missing, stale or wrong signature."""
