"""Console sign-in: cookies, CSRF, the login rate limit, API tokens, passwords."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from console.ratelimit import PER_ACCOUNT_IP, PER_IP
from crm_store.database import Database
from crm_store.models import AppUser, WebSession

from .console_helpers import PASSWORD, Clock, console_client, make_user, sign_in, token_of

pytestmark = pytest.mark.integration


async def test_sign_in_sets_a_strict_cookie_and_stores_only_hashes(db: Database) -> None:
    await make_user(db, "anna@x.test", "manager")
    async with console_client(db) as client:
        resp = await client.post(
            "/api/v1/session", json={"email": "Anna@X.test", "password": PASSWORD}
        )
        assert resp.status == 200
        cookie = resp.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
        me = await (await client.get("/api/v1/me")).json()
        assert me["role"] == "manager" and me["via"] == "session" and me["csrf_token"]
        clear = resp.cookies["lf_session"].value
    async with db.sessions() as session:
        stored = await session.scalar(select(WebSession.token_hash))
        pw = await session.scalar(select(AppUser.password_hash))
    assert stored is not None and clear not in stored
    assert pw is not None and pw.startswith("scrypt$") and PASSWORD not in pw


async def test_wrong_password_is_401_and_the_sixth_try_is_429(db: Database) -> None:
    await make_user(db, "anna@x.test", "manager")
    clock = Clock()
    async with console_client(db, clock=clock) as client:
        for _ in range(5):
            resp = await client.post(
                "/api/v1/session", json={"email": "anna@x.test", "password": "nope"}
            )
            assert resp.status == 401
            assert resp.content_type == "application/problem+json"
        blocked = await client.post(
            "/api/v1/session", json={"email": "anna@x.test", "password": PASSWORD}
        )
        assert blocked.status == 429
        assert int(blocked.headers["Retry-After"]) > 0
        clock.now += 301
        assert (
            await client.post(
                "/api/v1/session", json={"email": "anna@x.test", "password": PASSWORD}
            )
        ).status == 200


async def test_the_limit_also_holds_per_ip_across_accounts(db: Database) -> None:
    async with console_client(db) as client:
        for i in range(PER_IP):
            body = {"email": f"ghost{i}@x.test", "password": "guess"}
            assert (await client.post("/api/v1/session", json=body)).status == 401
        body = {"email": "another@x.test", "password": "guess"}
        assert (await client.post("/api/v1/session", json=body)).status == 429


async def test_parallel_wrong_passwords_are_cut_off_at_the_limit(db: Database) -> None:
    """Counted before the hash is checked: of 300 parallel guesses, exactly 5 are checked."""
    await make_user(db, "anna@x.test", "manager")
    async with console_client(db) as client:
        body = {"email": "anna@x.test", "password": "wrong guess"}
        answers = await asyncio.gather(
            *(client.post("/api/v1/session", json=body) for _ in range(300))
        )
        statuses = sorted(r.status for r in answers)
    assert statuses.count(401) == PER_ACCOUNT_IP
    assert statuses.count(429) == 300 - PER_ACCOUNT_IP


async def test_two_console_processes_share_the_limit(db: Database) -> None:
    await make_user(db, "anna@x.test", "manager")
    body = {"email": "anna@x.test", "password": "nope"}
    async with console_client(db) as one, console_client(db) as two:
        for client in (one, two, one, two, one):
            assert (await client.post("/api/v1/session", json=body)).status == 401
        assert (await two.post("/api/v1/session", json=body)).status == 429
        assert (await one.post("/api/v1/session", json=body)).status == 429


async def test_failures_from_other_addresses_never_lock_the_owner_out(db: Database) -> None:
    """Behind a trusted proxy, the limit is per (account, client IP) from X-Forwarded-For."""
    await make_user(db, "anna@x.test", "manager")
    attacker = {"X-Forwarded-For": "198.51.100.66, 127.0.0.1"}
    owner = {"X-Forwarded-For": "203.0.113.5"}
    async with console_client(db, trusted_proxies=["127.0.0.1/32"]) as client:
        wrong = {"email": "anna@x.test", "password": "nope"}
        for _ in range(PER_ACCOUNT_IP):
            resp = await client.post("/api/v1/session", json=wrong, headers=attacker)
            assert resp.status == 401
        resp = await client.post("/api/v1/session", json=wrong, headers=attacker)
        assert resp.status == 429
        right = {"email": "anna@x.test", "password": PASSWORD}
        assert (await client.post("/api/v1/session", json=right, headers=owner)).status == 200


async def test_forwarded_for_is_ignored_without_a_trusted_proxy(db: Database) -> None:
    """A client cannot escape the limit by sending a new X-Forwarded-For each time."""
    await make_user(db, "anna@x.test", "manager")
    wrong = {"email": "anna@x.test", "password": "nope"}
    async with console_client(db) as client:
        for i in range(PER_ACCOUNT_IP):
            headers = {"X-Forwarded-For": f"198.51.100.{i}"}
            assert (await client.post("/api/v1/session", json=wrong, headers=headers)).status == 401
        headers = {"X-Forwarded-For": "198.51.100.99"}
        assert (await client.post("/api/v1/session", json=wrong, headers=headers)).status == 429


@pytest.mark.parametrize(
    ("next_", "expected"),
    [
        pytest.param("/queue?status=new", "/queue?status=new", id="local-path"),
        pytest.param("/\t/evil.example", "/", id="tab-then-slash"),
        pytest.param("//evil.example", "/", id="protocol-relative"),
        pytest.param("/\\evil.example", "/", id="backslash"),
        pytest.param("https://evil.example/", "/", id="absolute"),
        pytest.param("/\n/evil.example", "/", id="newline"),
        pytest.param("javascript:alert(1)", "/", id="scheme"),
    ],
)
async def test_sign_in_goes_back_only_to_a_path_of_this_site(
    db: Database, next_: str, expected: str
) -> None:
    await make_user(db, "anna@x.test", "manager")
    async with console_client(db) as client:
        page = await client.get("/login", params={"next": next_})
        assert page.status == 200
        form = {"email": "anna@x.test", "password": PASSWORD, "next": next_}
        resp = await client.post("/login", data=form, allow_redirects=False)
        assert resp.status == 303
        assert resp.headers["Location"] == expected


async def test_login_body_is_validated_with_field_names(db: Database) -> None:
    async with console_client(db) as client:
        resp = await client.post("/api/v1/session", json={"email": "a@x.test"})
        assert resp.status == 422
        assert "password" in (await resp.json())["errors"]
        assert (await client.post("/api/v1/session", data=b"not json")).status == 400


async def test_cookie_writes_need_the_csrf_token_bearer_writes_do_not(db: Database) -> None:
    user_id = await make_user(db, "anna@x.test", "manager")
    async with console_client(db) as client:
        csrf = await sign_in(client, "anna@x.test")
        refused = await client.post("/api/v1/tokens", json={"name": "cli"})
        assert refused.status == 403
        assert "CSRF" in (await refused.json())["detail"]
        wrong = await client.post(
            "/api/v1/tokens", json={"name": "cli"}, headers={"X-CSRF-Token": "x" * 64}
        )
        assert wrong.status == 403
        assert (
            await client.post("/api/v1/tokens", json={"name": "cli"}, headers=csrf)
        ).status == 201
        client.session.cookie_jar.clear()
        bearer = await token_of(db, user_id)
        assert (
            await client.post("/api/v1/tokens", json={"name": "b"}, headers=bearer)
        ).status == 201


async def test_sign_out_ends_the_session(db: Database) -> None:
    await make_user(db, "anna@x.test", "manager")
    async with console_client(db) as client:
        csrf = await sign_in(client, "anna@x.test")
        assert (await client.delete("/api/v1/session", headers=csrf)).status == 204
        assert (await client.get("/api/v1/me")).status == 401
    async with db.sessions() as session:
        assert await session.scalar(select(WebSession.id)) is None


async def test_tokens_are_shown_once_listed_without_secret_and_revocable(db: Database) -> None:
    admin = await make_user(db, "root@x.test", "admin")
    manager = await make_user(db, "anna@x.test", "manager")
    admin_h = await token_of(db, admin)
    manager_h = await token_of(db, manager)
    async with console_client(db) as client:
        made = await client.post(
            "/api/v1/tokens", json={"name": "ci", "user_id": manager}, headers=admin_h
        )
        assert made.status == 201
        created = await made.json()
        assert created["token"].startswith("lf_")
        listed = await (await client.get("/api/v1/tokens", headers=manager_h)).json()
        assert all("token" not in t for t in listed["items"])
        assert {t["user_id"] for t in listed["items"]} == {manager}
        other = await client.post(
            "/api/v1/tokens", json={"name": "x", "user_id": admin}, headers=manager_h
        )
        assert other.status == 403
        admin_tokens = await (await client.get("/api/v1/tokens", headers=admin_h)).json()
        admins_own = next(t for t in admin_tokens["items"] if t["user_id"] == admin)
        assert (
            await client.delete(f"/api/v1/tokens/{admins_own['id']}", headers=manager_h)
        ).status == 404
        new_h = {"Authorization": f"Bearer {created['token']}"}
        assert (await client.get("/api/v1/me", headers=new_h)).status == 200
        assert (
            await client.delete(f"/api/v1/tokens/{created['id']}", headers=manager_h)
        ).status == 204
        assert (await client.get("/api/v1/me", headers=new_h)).status == 401


async def test_change_password_signs_out_everywhere(db: Database) -> None:
    await make_user(db, "anna@x.test", "manager")
    async with console_client(db) as client:
        csrf = await sign_in(client, "anna@x.test")
        bad = await client.post(
            "/api/v1/me/password",
            json={"current_password": "wrong", "new_password": "another long one"},
            headers=csrf,
        )
        assert bad.status == 403
        ok = await client.post(
            "/api/v1/me/password",
            json={"current_password": PASSWORD, "new_password": "another long one"},
            headers=csrf,
        )
        assert ok.status == 204
        assert (await client.get("/api/v1/me")).status == 401
        await sign_in(client, "anna@x.test", "another long one")


async def test_a_deactivated_user_cannot_sign_in(db: Database) -> None:
    admin = await make_user(db, "root@x.test", "admin")
    anna = await make_user(db, "anna@x.test", "manager")
    async with console_client(db) as client:
        await sign_in(client, "anna@x.test")
        resp = await client.patch(
            f"/api/v1/admin/users/{anna}", json={"active": False}, headers=await token_of(db, admin)
        )
        assert resp.status == 200
        assert (await client.get("/api/v1/me")).status == 401
        body = {"email": "anna@x.test", "password": PASSWORD}
        assert (await client.post("/api/v1/session", json=body)).status == 401
