"""Who may open a console page: one guard for every page class.

A page without a session redirects to the sign-in page and comes back afterwards; a
page for certain roles answers anyone else with a 403 page that says who may open it
(in their language). Scoping *within* a page (a manager sees only their own leads)
stays with the store queries; this only decides whether the page opens at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote

from aiohttp import web

from console.auth import Authenticator
from console.http import ApiError, Auth
from ingest.contract.i18n import N_

Page = Callable[[web.Request, Auth], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Render = Callable[..., web.Response]


@dataclass(frozen=True)
class Roles:
    allowed: frozenset[str]
    refusal: str


HEADS = Roles(
    frozenset({"admin", "head"}), N_("Only a head of sales or an admin may open this page.")
)
ADMINS = Roles(frozenset({"admin"}), N_("Only an admin may open this page."))


def guard(
    authenticator: Authenticator, render: Render, page: Page, roles: Roles | None = None
) -> Handler:
    """`page` for a signed-in person of `roles` (anyone signed in when None)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            auth = await authenticator(request)
        except ApiError:
            auth = None
        if auth is None:
            raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs, safe='')}")
        if roles is not None and auth.who.role not in roles.allowed:
            return render(request, "error.html", 403, auth=auth, message=roles.refusal)
        return await page(request, auth)

    return handle
