"""Kafka topic names. A prefix lets several deployments (or tests) share a broker."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str = ""

    @property
    def inquiries(self) -> str:
        return f"{self.prefix}leadflow.inquiries"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}leadflow.inquiries.dlq"

    @property
    def lead_events(self) -> str:
        return f"{self.prefix}leadflow.lead-events"

    @property
    def outbound(self) -> str:
        return f"{self.prefix}leadflow.outbound"

    def all(self) -> tuple[str, ...]:
        return (self.inquiries, self.dlq, self.lead_events, self.outbound)
