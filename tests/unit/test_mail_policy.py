"""Threading ids: what reaches In-Reply-To/References, and how those headers fold."""

from __future__ import annotations

import email
import email.policy
import re
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage

import pytest
from aiosmtplib.email import flatten_message

from connectors.mail_policy import (
    MAIL_POLICY,
    PROCESS_BOUNDARY,
    REFERENCES_BUDGET,
    MessageIdListHeader,
    _registry,
    mime_boundary,
    text_transfer_encoding,
    thread_ids,
)

LONG = "<DB9PR02MB1234567890ABCDEF1234567890ABCDEF@DB9PR02MB1234.eurprd02.prod.outlook.com>"


@pytest.mark.parametrize(
    ("value", "ids"),
    [
        pytest.param("<a@x> <b@x>", ["<a@x>", "<b@x>"], id="two"),
        pytest.param("<a@x><b@x>", ["<a@x>", "<b@x>"], id="no-space"),
        pytest.param("a@x, <b@x>", ["<a@x>", "<b@x>"], id="bare-and-comma"),
        pytest.param("<a@x> <a@x>", ["<a@x>"], id="repeat"),
        pytest.param("<ид@x> <b@x>", ["<b@x>"], id="non-ascii-dropped"),
        pytest.param("<a b@x> <c@x>", ["<c@x>"], id="space-inside-is-no-id"),
        pytest.param("", [], id="empty"),
        pytest.param(f"\r\n{LONG}\r\nBcc: v@x", [LONG, "<v@x>"], id="no-injection"),
    ],
)
def test_thread_ids(value: str, ids: list[str]) -> None:
    assert thread_ids(value) == ids


def test_a_long_thread_keeps_its_root_and_latest_ids() -> None:
    ids = [f"<{n:04d}-{'x' * 70}@outlook.com>" for n in range(60)]
    kept = thread_ids(" ".join(ids))
    assert kept[0] == ids[0] and kept[-1] == ids[-1]
    assert kept[1:] == ids[-(len(kept) - 1) :]
    assert sum(len(i) + 1 for i in kept) <= REFERENCES_BUDGET < sum(len(i) + 1 for i in ids)


def test_long_ids_fold_between_ids_and_are_never_encoded() -> None:
    mail = EmailMessage(policy=MAIL_POLICY)
    mail["In-Reply-To"] = LONG
    mail["References"] = f"<a@x> <b@x> {LONG}"
    mail.set_content("x\n")
    raw = mail.as_bytes(policy=email.policy.SMTP)
    assert b"=?" not in raw
    assert f"In-Reply-To: {LONG}\r\n".encode() in raw
    assert f"References: <a@x> <b@x>\r\n {LONG}\r\n".encode() in raw
    back = email.message_from_bytes(raw, policy=email.policy.default)
    assert back["References"].split() == ["<a@x>", "<b@x>", LONG]


def test_a_header_that_is_no_id_list_folds_as_before() -> None:
    mail = EmailMessage(policy=MAIL_POLICY)
    mail["References"] = "не идентификатор"
    raw = mail.as_bytes(policy=email.policy.SMTP)
    assert b"=?utf-8?" in raw


def _mail(policy: email.policy.Policy, n: int) -> tuple[bytes, bytes]:
    mail = EmailMessage(policy=policy)
    mail["From"] = "Отдел продаж «Юг» <sales@example.test>"
    mail["To"] = f"Иван Петров <ivan{n}@example.com>"
    mail["Subject"] = f"Re: Запрос прайса на партию №{n}, " + "очень длинная тема " * 5
    mail["Message-ID"] = f"<ack-{n}@example.test>"
    mail["In-Reply-To"] = LONG
    mail["References"] = f"<a@x> {LONG}"
    mail["X-LeadFlow-Lead"] = str(n)
    mail.set_content("Здравствуйте!\n")
    mail.add_alternative("<p>Здравствуйте!</p>", subtype="html")
    mail.set_boundary("b0")
    # Two ways out: the SMTP policy, and the clone aiosmtplib makes for each mail.
    return mail.as_bytes(policy=email.policy.SMTP), flatten_message(mail)


def test_headers_made_with_their_classes_kept_are_what_the_standard_registry_makes() -> None:
    """MAIL_POLICY makes each header name's class once, each header once per text, and
    folds each once per policy; the mail is byte for byte the one a registry making
    them anew for every header gives, mail after mail, past the number of headers it
    remembers, in both ways a mail is written."""
    standard = HeaderRegistry()
    standard.map_to_type("in-reply-to", MessageIdListHeader)
    standard.map_to_type("references", MessageIdListHeader)
    reference = email.policy.default.clone(header_factory=standard)
    for n in range(120):  # about 700 distinct headers: the memory is emptied once
        assert _mail(MAIL_POLICY, n) == _mail(reference, n)


def test_a_type_mapped_later_is_used() -> None:
    registry = _registry()
    policy = email.policy.default.clone(header_factory=registry)
    mail = EmailMessage(policy=policy)
    mail["X-Ids"] = "<a@x>"
    assert not isinstance(mail["X-Ids"], MessageIdListHeader)
    registry.map_to_type("x-ids", MessageIdListHeader)
    mail = EmailMessage(policy=policy)
    mail["X-Ids"] = "<a@x>"
    assert isinstance(mail["X-Ids"], MessageIdListHeader)


_RUSSIAN_LINE = (
    "Здравствуйте! Интересует поставка оборудования на склад в Казани, "
    "пришлите, пожалуйста, коммерческое предложение и сроки."
)
BODIES = {
    "russian, long lines": f"{_RUSSIAN_LINE}\n\n{_RUSSIAN_LINE}\n",
    "russian, short lines": "Спасибо!\nМы ответим в течение часа.\n",  # noqa: RUF001
    "english": "Thank you for your request.\nWe will answer within an hour.\n",
    "english, long lines": "Thank you for your request, " * 10 + "\n",
    "english with a russian name, long lines": "Dear Иван Петров, thank you for "
    + "your request about the delivery of the equipment to the warehouse. " * 3
    + "\n",
    "mostly ascii, a few letters": "x" * 100 + "é\n",
    "more than ten lines": "\n".join([_RUSSIAN_LINE] * 14) + "\n",
    "html": f"<html><body><p>{_RUSSIAN_LINE}</p><p>{_RUSSIAN_LINE}</p></body></html>",
    "control and equals signs": "a=b " * 40 + "\x01Ж" * 30 + "\n",
    "empty": "",
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_the_encoding_chosen_up_front_is_the_one_the_standard_library_picks(body: str) -> None:
    def part(cte: str | None) -> bytes:
        mail = EmailMessage(policy=MAIL_POLICY)
        mail.set_content(body, cte=cte)
        return mail.as_bytes()

    assert part(text_transfer_encoding(body)) == part(None)


def test_russian_text_skips_the_trial_encoding() -> None:
    assert text_transfer_encoding(BODIES["russian, long lines"]) == "base64"
    assert text_transfer_encoding(BODIES["english"]) is None


def test_a_boundary_a_text_holds_is_not_used() -> None:
    assert mime_boundary("text", "<p>html</p>") == PROCESS_BOUNDARY
    assert re.fullmatch(r"={15}\d{19}==", PROCESS_BOUNDARY)
    assert mime_boundary(f"quoting --{PROCESS_BOUNDARY}\n", "") is None


def test_a_mail_with_its_own_boundary_reads_back_as_written() -> None:
    texts = [BODIES["russian, long lines"], BODIES["html"]]
    boundary = mime_boundary(*texts)
    assert boundary is not None
    mail = EmailMessage(policy=MAIL_POLICY)
    mail["Subject"] = "Заявка"
    mail.set_content(texts[0], cte=text_transfer_encoding(texts[0]))
    mail.make_alternative(boundary=boundary)
    mail.add_alternative(texts[1], subtype="html", cte=text_transfer_encoding(texts[1]))
    raw = flatten_message(mail)
    assert f'boundary="{boundary}"'.encode() in raw
    back = email.message_from_bytes(raw, policy=email.policy.default)
    plain, html = (p.get_content() for p in back.iter_parts())
    assert (plain, html.rstrip("\n")) == (texts[0], texts[1])
