"""The review page (`/review`): what was captured but did not become a new lead.

Heads and admins only (a manager gets a 403 page). It reads through the same scoped
query as `GET /api/v1/review`, and its "This is a real inquiry" button posts to
`POST /api/v1/review/{id}/lead` through `static/app.js` with the session's CSRF
token, so the page and the API keep one set of rules. The page speaks the viewer's
language like every console page (`WebPages.render`; labels are gettext messages).
Imports `crm_store`, `console` helpers and `ingest.contract.i18n`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from pydantic import ValidationError

from console.auth import Authenticator
from console.guard import HEADS, guard
from console.http import ApiError, Auth
from console.review import ReviewQuery, review_filter
from crm_store import review
from crm_store.database import Database
from ingest.contract.i18n import N_

Render = Callable[..., web.Response]
PAGE_SIZE = 50
# Translated where shown (the template's `_()`).
KIND_LABELS = {
    "auto_reply": N_("Auto-reply"),
    "bounce": N_("Bounce"),
    "bulk": N_("Bulk or list mail"),
    "own_address": N_("Own address"),
    "unreadable": N_("Unreadable"),
    "loop_guard": N_("Loop guard"),
    "repeat": N_("Repeat on an open lead"),
    "logged_call": N_("Call logged on a contact"),
    "junk": N_("Junk"),
    "other": N_("Other"),
}


def query_of(params: dict[str, str]) -> ReviewQuery:
    """The page's filters; anything not valid is dropped rather than refused."""
    wanted = {k: v for k, v in params.items() if v and k in ("kind", "channel", "from", "to",
              "q", "state", "offset")}  # fmt: skip
    try:
        return ReviewQuery.model_validate({**wanted, "limit": PAGE_SIZE})
    except ValidationError:
        return ReviewQuery(limit=PAGE_SIZE)


class ReviewPages:
    def __init__(self, db: Database, authenticator: Authenticator, render: Render) -> None:
        self._db = db
        self._auth = authenticator
        self._render = render

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/review", guard(self._auth, self._render, self.review_page, HEADS))]

    async def review_page(self, request: web.Request, auth: Auth) -> web.StreamResponse:
        q = query_of(dict(request.query))
        try:
            wanted = review_filter(q)
        except ApiError:
            q = ReviewQuery(limit=PAGE_SIZE)
            wanted = review_filter(q)
        async with self._db.sessions() as session:
            page = await review.list_review(
                session, auth.who, wanted, limit=q.limit, offset=q.offset
            )
        return self._render(
            request,
            "review.html",
            auth=auth,
            page=page,
            query=q,
            labels=KIND_LABELS,
            next_page=_page_link(q, q.offset + q.limit) if q.offset + q.limit < page.total else "",
            prev_page=_page_link(q, max(0, q.offset - q.limit)) if q.offset else "",
        )


def _page_link(q: ReviewQuery, offset: int) -> str:
    params: dict[str, Any] = q.model_dump(by_alias=True, exclude_none=True, exclude={"limit"})
    params["offset"] = offset
    return "/review?" + urlencode({k: str(v) for k, v in params.items()})
