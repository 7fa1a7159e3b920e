"""Authentication for the console: bearer API tokens and browser sessions.

API clients send `Authorization: Bearer <token>` (stored as SHA-256, revocable) and
need no CSRF token. Browsers sign in with email and password (scrypt) and get a
session cookie: random, HttpOnly, SameSite=Lax, Secure over https, stored
server-side as SHA-256 only. Every cookie-authenticated write must carry the
session's CSRF token in `X-CSRF-Token`; the token is derived from the cookie (an
HMAC), so it needs no storage and another site cannot know it. Failed sign-ins are
limited per (account, client IP) and per client IP, counted in the database before
the password is checked (429 with Retry-After; `console.ratelimit`). Imports `crm_store` and
`console` helpers only.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from aiohttp import web

from console.client_ip import client_ip, networks
from console.http import ApiError, Auth, Call, Endpoint, Reply, collect, route
from console.passwords import hash_password, verify_password
from console.ratelimit import LoginLimiter
from console.schemas import LoginBody, Me, PasswordBody, TokenBody, TokenCreated, TokenList
from crm_store import accounts, people, sessions
from crm_store.database import Database
from ingest.contract.i18n import N_

COOKIE = "lf_session"
SESSION_TTL = timedelta(hours=12)


def csrf_for(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"leadflow-csrf", hashlib.sha256).hexdigest()


class Authenticator:
    """Resolves who calls; signs browsers in and out."""

    def __init__(
        self,
        db: Database,
        limiter: LoginLimiter | None = None,
        trusted_proxies: Sequence[str] = (),
    ) -> None:
        self._db = db
        self._limiter = limiter or LoginLimiter(db)
        self._proxies = networks(trusted_proxies)

    def client_ip(self, request: web.Request) -> str:
        return client_ip(request.remote, request.headers.get("X-Forwarded-For"), self._proxies)

    async def __call__(self, request: web.Request) -> Auth | None:
        header = request.headers.get("Authorization", "")
        if header:
            return await self._bearer(header)
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            return None
        async with self._db.sessions() as session, session.begin():
            who = await sessions.principal_for_session(
                session, accounts.hash_token(cookie), datetime.now(UTC)
            )
        if who is None:
            return None
        return Auth(who, "session", csrf_for(cookie), accounts.hash_token(cookie))

    async def _bearer(self, header: str) -> Auth:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401,
                "Send an API token as 'Authorization: Bearer <token>'.",
                headers={"WWW-Authenticate": 'Bearer realm="leadflow"'},
            )
        async with self._db.sessions() as session:
            who = await accounts.principal_for_token(session, token.strip())
        if who is None:
            raise ApiError(
                401,
                "This API token is not valid or was revoked.",
                headers={"WWW-Authenticate": 'Bearer realm="leadflow", error="invalid_token"'},
            )
        return Auth(who, "token")

    async def sign_in(self, request: web.Request, email: str, password: str) -> tuple[Auth, str]:
        """Check the password and open a session; returns it with the cookie value.

        The attempt is counted before the password is checked, so parallel guesses
        past the limit are refused without hashing (see `console.ratelimit`).
        """
        # The web form sends anything: drop NUL (PostgreSQL refuses it) and bound it.
        email = email.replace("\x00", "").strip().lower()[:320]
        ip = self.client_ip(request)
        attempt = await self._limiter.attempt(email, ip)
        if attempt.retry_after is not None:
            wait = attempt.retry_after
            raise ApiError(
                429,
                N_("Too many sign-in attempts; try again in %(wait)s seconds."),
                headers={"Retry-After": str(wait)},
                params={"wait": wait},
            )
        async with self._db.sessions() as session:
            creds = await sessions.credentials(session, email)
        stored = creds.password_hash if creds else None
        ok = await asyncio.to_thread(verify_password, password, stored)
        if not ok or creds is None or not creds.active:
            raise ApiError(401, N_("The email or the password is wrong."))
        await self._limiter.succeeded(attempt)
        return await self._open(request, creds.user_id)

    async def _open(self, request: web.Request, user_id: int) -> tuple[Auth, str]:
        cookie = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        async with self._db.sessions() as session, session.begin():
            await sessions.purge_expired(session, now)
            await sessions.open_session(
                session,
                user_id=user_id,
                token_hash=accounts.hash_token(cookie),
                now=now,
                ttl=SESSION_TTL,
                ip=self.client_ip(request),
                user_agent=request.headers.get("User-Agent"),
            )
            user = await people.get_user(session, user_id)
        who = accounts.Principal(user.id, user.name, user.role, user.timezone, user.language)
        return Auth(who, "session", csrf_for(cookie), accounts.hash_token(cookie)), cookie

    async def sign_out(self, auth: Auth | None) -> None:
        if auth is not None and auth.session_hash is not None:
            async with self._db.sessions() as session, session.begin():
                await sessions.close_session(session, auth.session_hash)


def set_cookie(request: web.Request, response: web.StreamResponse, cookie: str) -> None:
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="Lax",
        secure=request.secure,
        path="/",
    )


def me_of(auth: Auth) -> Me:
    return Me(
        id=auth.who.user_id,
        name=auth.who.name,
        role=auth.who.role,
        via=auth.via,
        csrf_token=auth.csrf_token,
    )


class AuthEndpoints:
    def __init__(self, db: Database, authenticator: Authenticator) -> None:
        self._db = db
        self._auth = authenticator

    def endpoints(self) -> list[Endpoint]:
        return collect(self, tag="auth")

    @route(
        "POST",
        "/api/v1/session",
        "Sign in; sets the session cookie",
        access="public",
        body=LoginBody,
        response=Me,
        csrf=False,
    )
    async def login(self, call: Call) -> web.StreamResponse:
        body = call.body_as(LoginBody)
        auth, cookie = await self._auth.sign_in(call.request, body.email, body.password)
        response = web.json_response(text=me_of(auth).model_dump_json())
        set_cookie(call.request, response, cookie)
        return response

    @route("DELETE", "/api/v1/session", "Sign out (ends the session)", access="public", status=204)
    async def logout(self, call: Call) -> web.StreamResponse:
        await self._auth.sign_out(call.auth)
        response = web.Response(status=204)
        response.del_cookie(COOKIE, path="/")
        return response

    @route("GET", "/api/v1/me", "Who am I (and my CSRF token)", response=Me)
    async def me(self, call: Call) -> Me:
        assert call.auth is not None
        return me_of(call.auth)

    @route("POST", "/api/v1/me/password", "Change my password", body=PasswordBody, status=204)
    async def password(self, call: Call) -> None:
        body = call.body_as(PasswordBody)
        async with self._db.sessions() as session:
            user = await people.get_user(session, call.who.user_id)
            creds = await sessions.credentials(session, user.email)
        stored = creds.password_hash if creds else None
        if not await asyncio.to_thread(verify_password, body.current_password, stored):
            raise ApiError(403, N_("The current password is wrong."))
        new_hash = await asyncio.to_thread(hash_password, body.new_password)
        async with self._db.sessions() as session, session.begin():
            await sessions.set_password_hash(session, call.who.user_id, new_hash)
            await sessions.close_user_sessions(session, call.who.user_id)

    @route("GET", "/api/v1/tokens", "My API tokens (an admin: all)", response=TokenList)
    async def tokens(self, call: Call) -> TokenList:
        async with self._db.sessions() as session:
            return TokenList(items=await people.list_tokens(session, call.who))

    @route(
        "POST",
        "/api/v1/tokens",
        "Create an API token (shown once)",
        body=TokenBody,
        response=TokenCreated,
        status=201,
    )
    async def create_token(self, call: Call) -> Reply:
        body = call.body_as(TokenBody)
        user_id = body.user_id if body.user_id is not None else call.who.user_id
        if user_id != call.who.user_id and call.who.role != "admin":
            raise ApiError(403, "Only an admin may make tokens for someone else.")
        async with self._db.sessions() as session, session.begin():
            view, clear = await people.create_token(
                session, user_id=user_id, name=body.name, now=call.now
            )
        return Reply(TokenCreated(**view.model_dump(), token=clear), status=201)

    @route("DELETE", "/api/v1/tokens/{token_id}", "Revoke an API token", status=204)
    async def revoke_token(self, call: Call) -> None:
        async with self._db.sessions() as session, session.begin():
            await people.revoke_token(session, call.who, call.path_int("token_id"), call.now)
