"""Threading ids: what reaches In-Reply-To/References, and how those headers fold."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest

from connectors.mail_policy import MAIL_POLICY, REFERENCES_BUDGET, thread_ids

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
