"""LeadFlow's roles, by name. Imports nothing: the command line reads them before it
imports any role's code (`leadflow.cli`), so `leadflow up` in split mode can start its
children first."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    CONNECTORS = "connectors"
    INGEST = "ingest"
    CONSOLE = "console"


ALL_ROLES = frozenset(Role)
# Roles that accept inquiries, so write them to the edge journal first.
JOURNAL_ROLES = frozenset({Role.CONNECTORS, Role.CONSOLE})
