"""The web-form HTTP edge against the real broker: status codes a web developer sees."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import aiohttp
import pytest

from connectors.webform import FormConfig
from ingest.contract import Inquiry, Topics
from ingest.contract.render_token import read_render_token
from leadflow.broker import create_topics

from ..conftest import BrokerProcess, start_tansu, stop_tansu
from ..factories import make_form
from .channel_helpers import eventually, read_topic
from .helpers import form_client
from .journal_helpers import confirm, journal_form_client, open_journal, relay_config, relaying

pytestmark = pytest.mark.integration

FORM = {"name": "Ivan", "email": "ivan@example.com", "message": "hello"}


async def test_json_and_multipart_are_accepted(broker: BrokerProcess, topics: Topics) -> None:
    async with form_client(broker.bootstrap_servers, topics) as client:
        as_json = await client.post("/forms/contact", json=FORM)
        assert as_json.status == 202
        multipart = aiohttp.FormData()
        for k, v in FORM.items():
            multipart.add_field(k, v)
        multipart.add_field("file", b"abc", filename="cv.pdf", content_type="application/pdf")
        as_multipart = await client.post("/forms/contact", data=multipart)
        assert as_multipart.status == 202
        assert "inquiry_id" in await as_multipart.json()


@pytest.mark.parametrize(
    ("kwargs", "status", "words"),
    [
        pytest.param(
            {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
            400,
            "not valid JSON",
            id="malformed-json",
        ),
        pytest.param({"json": ["a", "list"]}, 400, "must be an object", id="json-array"),
        pytest.param(
            {"data": b"hello", "headers": {"Content-Type": "text/plain"}},
            415,
            "application/x-www-form-urlencoded",
            id="wrong-type",
        ),
        pytest.param(
            {"json": {"name": "Ivan", "email": "nope"}}, 422, "not a valid email", id="bad-email"
        ),
        pytest.param({"json": {"name": "Ivan"}}, 422, "email address or a phone", id="no-contact"),
    ],
)
async def test_bad_bodies_get_problem_json(
    broker: BrokerProcess, topics: Topics, kwargs: dict[str, object], status: int, words: str
) -> None:
    async with form_client(broker.bootstrap_servers, topics) as client:
        resp = await client.post("/forms/contact", **kwargs)  # type: ignore[arg-type]
        assert resp.status == status
        assert resp.content_type == "application/problem+json"
        body = await resp.json()
        assert body["status"] == status
        assert words in body["detail"]


async def test_unknown_form_is_404(broker: BrokerProcess, topics: Topics) -> None:
    async with form_client(broker.bootstrap_servers, topics) as client:
        resp = await client.post("/forms/nope", data=FORM)
        assert resp.status == 404
        assert "no form called 'nope'" in (await resp.json())["detail"]


async def test_body_over_the_limit_is_413(broker: BrokerProcess, topics: Topics) -> None:
    async with form_client(broker.bootstrap_servers, topics, max_body=4096) as client:
        resp = await client.post("/forms/contact", data={**FORM, "message": "x" * 10_000})
        assert resp.status == 413
        assert resp.content_type == "application/problem+json"


async def test_cors_allows_configured_origins_only(broker: BrokerProcess, topics: Topics) -> None:
    async with form_client(broker.bootstrap_servers, topics) as client:
        pre = await client.options("/forms/contact", headers={"Origin": "https://shop.example.com"})
        assert pre.status == 204
        assert pre.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
        ok = await client.post(
            "/forms/contact", json=FORM, headers={"Origin": "https://shop.example.com"}
        )
        assert ok.status == 202
        assert ok.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
        bad = await client.post(
            "/forms/contact", json=FORM, headers={"Origin": "https://evil.example"}
        )
        assert bad.status == 403
        assert "evil.example" in (await bad.json())["detail"]


async def test_plain_html_form_is_redirected(broker: BrokerProcess, topics: Topics) -> None:
    async with form_client(broker.bootstrap_servers, topics) as client:
        resp = await client.post(
            "/forms/contact", data=FORM, headers={"Accept": "text/html"}, allow_redirects=False
        )
        assert resp.status == 303
        assert resp.headers["Location"] == "/forms/contact/thanks"
        thanks = await client.get("/forms/contact/thanks")
        assert "Thank you" in await thanks.text()


async def test_embeddable_page_posts_back_to_itself(broker: BrokerProcess, topics: Topics) -> None:
    async with form_client(broker.bootstrap_servers, topics) as client:
        page = await (await client.get("/forms/contact")).text()
        assert 'action="/forms/contact"' in page
        assert 'name="_submission_id"' in page
        assert 'name="website"' in page, "the honeypot is on the page, hidden"
        assert 'name="email"' in page


async def test_broker_down_still_gets_202_and_the_journal_empties_when_it_is_back(
    topics: Topics, tmp_path: Path
) -> None:
    own = start_tansu()
    try:
        await create_topics(own.bootstrap_servers, topics, partitions=3)
        config = relay_config(own.bootstrap_servers, topics, republish_after_s=1.0)
        async with (
            open_journal(tmp_path) as journal,
            relaying(journal, config),
            journal_form_client(journal) as client,
        ):
            assert (await client.post("/forms/contact", json=FORM)).status == 202
            await eventually(lambda: journal.stats().published == 1)
            stop_tansu(own)
            # The broker is gone: the journal answers, at once and with a 202.
            for n in range(5):
                resp = await client.post("/forms/contact", json={**FORM, "message": f"m{n}"})
                assert resp.status == 202
            assert journal.stats().entries == 6
            own = start_tansu(own.port)  # back, and empty
            records = await read_topic(own.bootstrap_servers, topics.inquiries, 6, within=30)
            keys = sorted({Inquiry.from_kafka(v).idempotency_key for v, _ in records})
            assert len(keys) == 6, "every accepted post reached the new broker"
            await confirm(own.bootstrap_servers, topics, keys)  # what ingest will send
            await eventually(lambda: journal.stats().entries == 0, within=30)
    finally:
        stop_tansu(own)


async def test_broker_down_at_start_still_gets_202(topics: Topics, tmp_path: Path) -> None:
    from leadflow.broker import free_port

    config = relay_config(f"127.0.0.1:{free_port()}", topics)
    async with (
        open_journal(tmp_path) as journal,
        relaying(journal, config),
        journal_form_client(journal) as client,
    ):
        resp = await client.post("/forms/contact", json=FORM)
        assert resp.status == 202
        assert journal.stats().entries == 1


async def test_past_the_journal_bound_a_post_gets_503_at_once(tmp_path: Path) -> None:
    async with (
        open_journal(tmp_path, max_bytes=1) as journal,
        journal_form_client(journal) as client,
    ):
        resp = await client.post("/forms/contact", json=FORM)
        assert resp.status == 503
        assert resp.headers["Retry-After"] == "5"
        assert "try again" in (await resp.json())["detail"]
        stats = journal.stats()
    assert (stats.entries, stats.refused) == (0, 1), "a 503 means nothing was recorded"


class _Page(HTMLParser):
    """The form page as a person sees it: each field's value and the error beside it."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self.described_by: dict[str, str] = {}
        self.lang = ""
        self.alert = ""
        self._in: tuple[str, str] | None = None  # ("textarea" | "error" | "alert", field)
        self._last_field = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = a.get("lang", "")
        elif tag in ("input", "textarea") and a.get("id", "").startswith("f-"):
            self._last_field = a["name"]
            self.values[a["name"]] = a.get("value", "")
            if "aria-describedby" in a:
                self.described_by[a["name"]] = a["aria-describedby"]
            if tag == "textarea":
                self._in = ("textarea", a["name"])
        elif tag == "p" and a.get("class") == "error" and a.get("id", "").startswith("e-"):
            # The error right after a field belongs to that field, and says so by its id.
            assert a["id"] == f"e-{self._last_field}", "an error is beside its own field"
            self._in = ("error", self._last_field)
        elif tag == "div" and a.get("role") == "alert":
            self._in = ("alert", "")

    def handle_endtag(self, tag: str) -> None:
        closing = {"textarea": "textarea", "error": "p", "alert": "div"}
        if self._in is not None and tag == closing[self._in[0]]:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is None:
            return
        kind, name = self._in
        if kind == "textarea":
            self.values[name] += data
        elif kind == "error":
            self.errors[name] = self.errors.get(name, "") + data
        else:
            self.alert += data


def read_page(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


TYPED = {
    "name": 'Иван <b>"Ваня"</b>',
    "email": "ivan@",
    "phone": "",
    "message": "Нужно 3 шт.\n<script>alert(1)</script>",
    "website": "",
}


@pytest.mark.parametrize(
    ("form", "accept_language", "language", "error"),
    [
        pytest.param(
            make_form(language="ru"),
            "en-US,en;q=0.9",
            "ru",
            "Это не похоже на адрес электронной почты.",
            id="form-in-russian",
        ),
        pytest.param(
            make_form(),
            "ru-RU,ru;q=0.9,en;q=0.8",
            "ru",
            "Это не похоже на адрес электронной почты.",
            id="browser-in-russian",
        ),
        pytest.param(
            make_form(),
            "en-GB,en;q=0.9",
            "en",
            "This does not look like an email address.",
            id="browser-in-english",
        ),
    ],
)
async def test_a_refused_html_post_gets_the_form_back(
    broker: BrokerProcess,
    topics: Topics,
    form: FormConfig,
    accept_language: str,
    language: str,
    error: str,
) -> None:
    browser = {
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "Accept-Language": accept_language,
    }
    async with form_client(broker.bootstrap_servers, topics, form=form) as client:
        for body in (TYPED, multipart(TYPED)):
            resp = await client.post("/forms/contact", data=body, headers=browser)
            assert resp.status == 422
            assert resp.content_type == "text/html"
            assert resp.headers["Content-Language"] == language
            html = await resp.text()
            page = read_page(html)
            assert page.lang == language
            assert page.errors == {"email": error}
            assert page.described_by == {"email": "e-email"}
            assert {k: page.values[k] for k in ("name", "email", "message")} == {
                "name": TYPED["name"],
                "email": TYPED["email"],
                "message": TYPED["message"],
            }, "what the person typed is still there"
            assert page.alert.strip(), "and the page says the form was not sent"
            assert "<script>" not in html and "<b>" not in html, "their text stays inert"


async def test_a_form_with_no_contact_says_so_above_the_fields(
    broker: BrokerProcess, topics: Topics
) -> None:
    async with form_client(broker.bootstrap_servers, topics, form=make_form(language="ru")) as c:
        resp = await c.post(
            "/forms/contact",
            data={"name": "Иван", "message": "перезвоните"},
            headers={"Accept": "text/html"},
        )
        assert resp.status == 422
        page = read_page(await resp.text())
        assert "Укажите, пожалуйста, email или телефон" in page.alert
        assert page.values["name"] == "Иван" and page.values["message"] == "перезвоните"


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"json": TYPED}, id="json-body"),
        pytest.param({"data": TYPED, "headers": {"Accept": "application/json"}}, id="accept-json"),
        pytest.param({"data": TYPED, "headers": {"Accept": "*/*"}}, id="fetch-form-data"),
    ],
)
async def test_json_and_fetch_clients_still_get_problem_json(
    broker: BrokerProcess, topics: Topics, kwargs: dict[str, object]
) -> None:
    async with form_client(broker.bootstrap_servers, topics, form=make_form(language="ru")) as c:
        resp = await c.post("/forms/contact", **kwargs)  # type: ignore[arg-type]
        assert resp.status == 422
        assert resp.content_type == "application/problem+json"
        body = await resp.json()
        assert "email" in body["errors"]
        assert "not a valid email" in body["detail"]


async def test_the_corrected_post_is_accepted(broker: BrokerProcess, topics: Topics) -> None:
    """The page that came back is a working form: sending it fixed makes the inquiry."""
    async with form_client(broker.bootstrap_servers, topics) as client:
        first = await client.post("/forms/contact", data=TYPED, headers={"Accept": "text/html"})
        page = read_page(await first.text())
        fixed = {**page.values, "email": "ivan@example.com"}
        resp = await client.post(
            "/forms/contact", data=fixed, headers={"Accept": "text/html"}, allow_redirects=False
        )
        assert resp.status == 303
        records = await read_topic(broker.bootstrap_servers, topics.inquiries, 1)
        sent = [Inquiry.from_kafka(v) for v, _ in records]
        assert any(
            i.sender.email == "ivan@example.com" and i.text == TYPED["message"] for i in sent
        )


def multipart(values: dict[str, str]) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for k, v in values.items():
        data.add_field(k, v)
    return data


async def test_the_form_shown_again_keeps_its_first_render_time(
    broker: BrokerProcess, topics: Topics
) -> None:
    """The spam score reads how fast a form was filled in from its render token: fixing
    one field must not look like a bot that filled the whole form in a second."""
    secret = b"render-secret"
    async with form_client(broker.bootstrap_servers, topics, render_secret=secret) as client:
        shown = await (await client.get("/forms/contact")).text()
        token = shown.split('name="_rt" value="', 1)[1].split('"', 1)[0]
        again = await client.post(
            "/forms/contact", data={**TYPED, "_rt": token}, headers={"Accept": "text/html"}
        )
        assert f'name="_rt" value="{token}"' in await again.text()
        forged = await client.post(
            "/forms/contact", data={**TYPED, "_rt": "x.1.y"}, headers={"Accept": "text/html"}
        )
        fresh = (await forged.text()).split('name="_rt" value="', 1)[1].split('"', 1)[0]
        assert read_render_token(secret, fresh, "contact") is not None
