"""The phrases of cold sales pitches and of payment fraud, found in an inquiry's text:
pure, for `ingest.spam`. Imports nothing of ours."""

from __future__ import annotations

import re

# Inbound leads ask to buy; outreach spam offers to sell. These phrases are how
# cold pitches (SEO, lead lists, outsourcing, franchises, "partnership") open.
PITCH = re.compile(
    r"\b(?:we (?:offer|provide|specialize|can (?:help you|provide|offer|increase|improve|boost|"
    r"get you|build you|deliver))|our (?:agency|services)|"
    r"seo|backlinks?|guest post|link[- ]building|lead generation|web design services|offshore|"
    r"outsourc\w*|business proposal|decision[- ]makers|email list|b2b (?:data|list|database)|"
    r"\d+-minute call|quick call|first page of google|barrister|beneficiary|"
    r"предлагаем вам|наша компания предлагает|мы (?:поможем|предлагаем|занимаемся|разработаем|"
    r"настроим|увеличим|провели|проведём|проведем)|продвижени\w*|раскрутк\w*|"
    r"таргет\w*|франшиз\w*|подписчик\w*|"
    r"баз[аеуы] (?:клиентов|контактов|email|e-mail)|рассылк\w*|госзакуп\w*|"
    r"окупаемост\w*|окупит\w*|пассивн\w+ доход\w*|"
    # Suppliers and "partners" offering to sell to the seller, not to buy from it.
    r"we supply|(?:at|competitive) factory prices?|we are (?:a |an )?(?:leading |professional )?"
    r"(?:manufacturer|factory|exporter)|reaching out from|"
    r"(?:предлагаем|можем предложить|хотим предложить) (?:вам|вашей компании|сотрудничество|"
    r"партн[её]рство)|хотим предложить|ищем (?:партн[её]ров|представителей))\b"
)
# Business email compromise: urgent secret payments, gift cards, changed bank details.
FRAUD = re.compile(
    r"\b(?:gift ?cards?|wire transfer|confidential (?:payment|transfer)|keep this between us|"
    r"(?:new|changed|updated) bank details|bank details have changed|"
    r"реквизиты (?:изменились|поменялись)|(?:новые|изменённые|измененные) реквизиты|"
    r"подарочн\w+ карт\w*|никому не сообщайте|сотрудник фсб|служба безопасности банка)\b"
)
# Both are written in lower case and searched in `folded(text)` rather than with
# `re.IGNORECASE`, which compares every character of every branch case-insensitively
# at every position: 22 → 8 µs for `PITCH` on a 150-character Russian inquiry
# (issue 11). The patterns must stay lower case. A phrase is quoted as the customer
# wrote it: found again in the original text, only for the few that match.
_PITCH_ANY_CASE = re.compile(PITCH.pattern, re.IGNORECASE)
_FRAUD_ANY_CASE = re.compile(FRAUD.pattern, re.IGNORECASE)


def folded(text: str) -> str:
    """`text` in lower case as `re.IGNORECASE` compares letters: `str.lower` does it
    for every letter but three, which IGNORECASE also takes for "i" and "s" (and
    "İ" lower-cases to "i" and a combining dot)."""
    lowered = text.lower()
    if lowered.isascii():
        return lowered
    return lowered.replace("i\u0307", "i").replace("\u0131", "i").replace("\u017f", "s")


def pitch_phrase(text: str) -> str | None:
    """The first sales-pitch phrase in `text`, as written, if any."""
    return _as_written(PITCH, _PITCH_ANY_CASE, text)


def fraud_phrase(text: str) -> str | None:
    """The first payment-fraud phrase in `text`, as written, if any."""
    return _as_written(FRAUD, _FRAUD_ANY_CASE, text)


def _as_written(lower: re.Pattern[str], any_case: re.Pattern[str], text: str) -> str | None:
    found = lower.search(folded(text))
    if found is None:
        return None
    again = any_case.search(text)
    return again.group(0) if again else found.group(0)
