"""Start-up data: "configuration as code" from the TOML file, and the `--demo` seed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from console.passwords import generate_password, hash_password
from crm_store import accounts, people, sessions
from crm_store.database import Database
from leadflow.settings import (
    FormConfigModel,
    FormFieldConfig,
    MemberConfig,
    Settings,
    TeamConfig,
)

# The demo team sells in Russia: the console shows them Moscow time, in Russian.
DEMO_ZONE = "Europe/Moscow"
DEMO_TEAM = TeamConfig(
    name="Sales",
    members=[
        MemberConfig(
            email="anna.ivanova@demo.leadflow.test",
            name="Anna Ivanova",
            timezone=DEMO_ZONE,
            language="ru",
        ),
        MemberConfig(
            email="boris.petrov@demo.leadflow.test",
            name="Boris Petrov",
            timezone=DEMO_ZONE,
            language="ru",
        ),
        MemberConfig(
            email="sofia.sidorova@demo.leadflow.test",
            name="Sofia Sidorova",
            timezone=DEMO_ZONE,
            language="ru",
        ),
    ],
)
# The demo team sells in Russian: its form speaks Russian whatever the browser says.
DEMO_FORM = FormConfigModel(
    slug="contact",
    name="Свяжитесь с нами",  # noqa: RUF001 (Cyrillic, as the demo team writes)
    team="Sales",
    fields=[
        FormFieldConfig(name="name", label="Имя", maps_to="name"),
        FormFieldConfig(name="email", label="Email", maps_to="email", kind="email"),
        FormFieldConfig(name="phone", label="Телефон", maps_to="phone", kind="tel"),
        FormFieldConfig(name="message", label="Сообщение", maps_to="message", kind="textarea"),
    ],
    allowed_origins=["*"],
    language="ru",
)
ADMIN_EMAIL = "admin@leadflow.local"
DEMO_HEAD = MemberConfig(
    email="helen.head@demo.leadflow.test",
    name="Helen Head",
    role="head",
    timezone=DEMO_ZONE,
    language="ru",
)


@dataclass(slots=True)
class SeedReport:
    teams: list[str] = field(default_factory=list)
    forms: list[str] = field(default_factory=list)
    admin_token: str | None = None
    passwords: dict[str, str] = field(default_factory=dict)
    password_file: Path | None = None

    def lines(self) -> list[str]:
        out = []
        if self.teams:
            out.append(f"teams: {', '.join(self.teams)}")
        if self.forms:
            out.append(f"forms: {', '.join(self.forms)}")
        if self.passwords:
            where = f", saved to {self.password_file}" if self.password_file else ""
            out.append(f"console sign-in (/login; demo passwords shown once{where}):")
            out.extend(f"  {email}  {password}" for email, password in self.passwords.items())
        return out


async def apply_configuration(db: Database, settings: Settings, *, demo: bool) -> SeedReport:
    """Upsert teams and forms from settings (and the demo data on an empty store)."""
    now = datetime.now(UTC)
    report = SeedReport()
    async with db.sessions() as session, session.begin():
        empty = await accounts.is_empty(session)
        teams = list(settings.teams)
        forms = list(settings.forms)
        if demo and empty:
            teams.insert(0, DEMO_TEAM)
            forms.insert(0, DEMO_FORM)
        for team in teams:
            team_id = await accounts.upsert_team(
                session, name=team.name, strategy=team.strategy, now=now
            )
            for m in team.members:
                user_id = await accounts.upsert_user(
                    session,
                    email=m.email,
                    name=m.name,
                    role=m.role,
                    now=now,
                    active=m.active,
                    timezone=m.timezone,
                    working_hours=m.working_hours,
                    language=m.language,
                )
                await accounts.upsert_member(
                    session, team_id=team_id, user_id=user_id, capacity=m.capacity, active=m.active
                )
            report.teams.append(f"{team.name} ({len(team.members)} members)")
        for form in forms:
            await accounts.upsert_form(
                session,
                slug=form.slug,
                name=form.name,
                team=form.team,
                fields=[f.model_dump() for f in form.fields],
                honeypot_field=form.honeypot_field,
                allowed_origins=form.allowed_origins,
                redirect_url=form.redirect_url,
                language=form.language,
                now=now,
            )
            report.forms.append(form.slug)
        wants_admin = (demo and empty) or settings.admin_token is not None
        if wants_admin:
            admin_id = await accounts.upsert_user(
                session, email=ADMIN_EMAIL, name="Administrator", role="admin", now=now
            )
            given = settings.admin_token.get_secret_value() if settings.admin_token else None
            token = await accounts.add_token(
                session, user_id=admin_id, name="admin", now=now, token=given
            )
            if given is None:
                report.admin_token = token
        if demo and empty:
            report.passwords = await _demo_logins(session, now)
    return report


async def _demo_logins(session: AsyncSession, now: datetime) -> dict[str, str]:
    """A head of Sales, and a fresh random password for every demo account."""
    head_id = await accounts.upsert_user(
        session,
        email=DEMO_HEAD.email,
        name=DEMO_HEAD.name,
        role=DEMO_HEAD.role,
        now=now,
        timezone=DEMO_HEAD.timezone,
        language=DEMO_HEAD.language,
    )
    sales = next(t for t in await people.list_teams(session) if t.name == DEMO_TEAM.name)
    await people.save_team(session, sales.id, values={"head_user_id": head_id}, now=now)
    emails = [ADMIN_EMAIL, DEMO_HEAD.email, *(m.email for m in DEMO_TEAM.members)]
    passwords: dict[str, str] = {}
    for user in await people.list_users(session):
        if user.email in emails:
            passwords[user.email] = generate_password()
            await sessions.set_password_hash(session, user.id, hash_password(passwords[user.email]))
    return dict(sorted(passwords.items(), key=lambda item: emails.index(item[0])))


@dataclass(slots=True)
class Started:
    """What a running runtime tells its caller (the CLI prints it; tests read it)."""

    http_url: str = ""
    bootstrap_servers: str = ""
    embedded_broker: bool = False
    seed: SeedReport = field(default_factory=SeedReport)


def write_token(data_dir: Path, token: str) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "admin-token"
    path.write_text(token + "\n")
    path.chmod(0o600)


def write_passwords(data_dir: Path, passwords: dict[str, str]) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "demo-passwords"
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text("".join(f"{email} {password}\n" for email, password in passwords.items()))
    path.chmod(0o600)
    return path
