"""How PostgreSQL plans the consumer's batch lookups: for the values they carry.

The consumer asks the store about a whole batch at once (`column = ANY(…)`, one array
of up to a thousand values: idempotency keys, sender keys, addresses, identities). asyncpg
prepares each statement once per connection, and after five runs PostgreSQL may
switch it to a generic plan made without the values; a generic plan made while a
table was small (a fresh store, or one whose statistics are stale) scans the table and
compares every row with every value, and it is kept while the table grows: at 40,000
identities one lookup took 115 ms instead of 5 (`bench.consumer_cpu --store
postgresql --sql-times`, issue 11). `for_values` makes PostgreSQL plan each statement
for its values until `as_configured`; the batch's inserts (`crm_store.intake_write`:
two statements of `unnest` arrays, whose plan does not depend on the values) go back
to the configured mode, which keeps their plans: left on `force_custom_plan` they ran
about three times longer (3.1 → 9.8 ms a batch of 25, most likely because the
triggers' and foreign-key checks' own queries were planned again for every row). Both
are `SET LOCAL`: the transaction's end undoes them. SQLite plans every statement
afresh anyway: nothing to do there.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from crm_store import core


async def for_values(session: AsyncSession) -> None:
    """From here to `as_configured` (or the transaction's end), plan per execution."""
    await _set(session, "force_custom_plan")


async def as_configured(session: AsyncSession) -> None:
    """Back to the server's configured plan cache mode, for this transaction."""
    await _set(session, "DEFAULT")


async def _set(session: AsyncSession, mode: str) -> None:
    if not core.on_postgresql(session):
        return
    connection = await core.connection(session)
    await connection.exec_driver_sql(f"SET LOCAL plan_cache_mode TO {mode}")
