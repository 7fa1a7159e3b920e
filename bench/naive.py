"""The naive alternative LeadFlow is compared with: one database transaction per request.

A tiny aiohttp app that answers `POST /forms/{slug}` by writing the submission straight
to the store with the SQLAlchemy ORM, in one transaction per request: lock the team's
round-robin cursor, find or create the contact, add the lead and its first-contact
activity, move the cursor, commit, answer 202. The same tables as LeadFlow, the same
email validation, no broker. Run as its own process by `bench.e2e`:

    python -m bench.naive --database-url URL --port PORT
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import uuid
from datetime import UTC, datetime, timedelta

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.database import create_engine
from crm_store.models import Activity, Contact, ContactIdentity, Lead, Team, TeamMember
from ingest.contract import InvalidIdentity, normalize_email

TEAM = "Sales"
SLA = timedelta(minutes=30)


def make_app(sessions: async_sessionmaker[AsyncSession], *, lock: bool) -> web.Application:
    async def submit(request: web.Request) -> web.Response:
        data = await request.post()
        raw_email = data.get("email")
        if not isinstance(raw_email, str):
            return web.json_response({"detail": "email is required"}, status=422)
        try:
            email = normalize_email(raw_email)
        except InvalidIdentity as exc:
            return web.json_response({"detail": str(exc)}, status=422)
        name = str(data.get("name") or "") or None
        message = str(data.get("message") or "")
        now = datetime.now(UTC)
        async with sessions() as session, session.begin():
            stmt = select(Team).where(Team.name == TEAM)
            team = await session.scalar(stmt.with_for_update() if lock else stmt)
            if team is None:
                return web.json_response({"detail": "no team"}, status=500)
            members = list(
                await session.scalars(
                    select(TeamMember.user_id)
                    .where(TeamMember.team_id == team.id, TeamMember.active.is_(True))
                    .order_by(TeamMember.user_id)
                )
            )
            later = [m for m in members if team.rr_last_user_id is None or m > team.rr_last_user_id]
            assignee = (later or members)[0] if members else None
            contact = await session.scalar(select(Contact).where(Contact.email == email))
            if contact is None:
                contact = Contact(id=uuid.uuid4(), name=name, email=email, created_at=now)
                session.add(contact)
                await session.flush()  # no ORM relationships: parents go first by hand
                session.add(
                    ContactIdentity(
                        id=uuid.uuid4(), contact_id=contact.id, kind="email", value=email
                    )
                )
            lead = Lead(
                id=uuid.uuid4(),
                status="new",
                channel="web_form",
                title=f"{name or email}: {message}"[:500],
                contact_id=contact.id,
                team_id=team.id,
                assignee_id=assignee,
                assignment_reason="round-robin (naive)",
                first_contact_due_at=now + SLA,
                spam_score=0.0,
                spam_reasons=[],
                source={},
                created_at=now,
                updated_at=now,
                assigned_at=now,
            )
            session.add(lead)
            await session.flush()
            session.add(
                Activity(
                    id=uuid.uuid4(),
                    lead_id=lead.id,
                    contact_id=contact.id,
                    assignee_id=assignee,
                    kind="call",
                    direction="outbound",
                    status="planned",
                    subject="First contact",
                    is_first_contact=True,
                    due_at=now + SLA,
                    created_at=now,
                )
            )
            team.rr_last_user_id = assignee
        return web.json_response({"status": "accepted", "lead_id": str(lead.id)}, status=202)

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    app = web.Application()
    app.add_routes([web.post("/forms/{slug}", submit), web.get("/healthz", healthz)])
    return app


async def serve(database_url: str, port: int) -> None:
    engine = create_engine(database_url, pool_size=20)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    app = make_app(sessions, lock=engine.dialect.name == "postgresql")
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print("naive app ready", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.database_url, args.port))


if __name__ == "__main__":
    main()
