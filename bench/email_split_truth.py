# ruff: noqa: RUF001 - Russian mail text: Cyrillic letters are intended.
"""What a correct quote/signature split of each test email is: the bench's ground truth.

Per case, snippets of the message's plain text (as `parse_email` reads it):
- `new`: the sender's own words, which must stay in the new text;
- `cut`: quoted history, which must leave both the new text and the signature;
- `sig`: the signature (or a mobile footer), which must leave the new text;
- `fwd`: a forwarded message's words, which must be kept (new text or forwarded part).

`EML` covers every lead in `tests/fixtures/email` that has body text; `TEXTS` adds
reply and forward styles the corpus lacks (Russian Outlook, Gmail and Yandex headers,
bottom posting, hyphen lists that are not signatures), written the way those clients
write them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Truth:
    new: tuple[str, ...]
    cut: tuple[str, ...] = ()
    sig: tuple[str, ...] = ()
    fwd: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TextCase:
    text: str
    truth: Truth
    is_forward: bool = False
    tags: tuple[str, ...] = field(default=())


EML: dict[str, Truth] = {
    "apple_mail_inline_image.eml": Truth(new=("Вот фото участка", "ленточный фундамент?")),
    "attachment_outlook_related_logo.eml": Truth(
        new=("реквизиты для договора поставки",), sig=("Марина Белова", "309-45-12")
    ),
    "attachments_gmail_rfc2231.eml": Truth(new=("просьба рассчитать",)),
    "bad_base64_body.eml": Truth(new=("аренды экскаватора",)),
    "broken_boundary.eml": Truth(new=("брусчатка",)),
    "eight_bit_headers_cp1251.eml": Truth(new=("ламинат 33 класса",)),
    "eight_bit_headers_utf8.eml": Truth(new=("25 тонн цемента",)),
    "forward_apple_begin.eml": Truth(new=("FYI, a request",), fwd=("500 sandwich panels",)),
    "forward_forwarder_phone_above.eml": Truth(
        new=("клиент просит КП", "916 555-44-33"), fwd=("откатные ворота",)
    ),
    "forward_gmail_inline.eml": Truth(
        new=("передаю запрос клиента",), fwd=("300 м2 тротуарной плитки", "(999) 123-45-67")
    ),
    "forward_outlook_fw.eml": Truth(
        new=("Please handle this one",), sig=("Best regards",), fwd=("2 000 m2 of metal roof",)
    ),
    "forward_own_earlier_request.eml": Truth(new=("Напоминаю",), fwd=("монтаж сплит-системы",)),
    "forward_rfc822_attached.eml": Truth(
        new=("Возьмите в работу",), fwd=("пластиковые окна в коттедж",)
    ),
    "forward_yandex_ru.eml": Truth(
        new=("Передаю, это по дилерству.",), fwd=("стать дилером в Екатеринбурге",)
    ),
    "gmail_q_utf8_split_words.eml": Truth(
        new=("в Химках?",), sig=("Анна Смирнова", "916 123 45 67")
    ),
    "gmail_utf8_b_name.eml": Truth(new=("5000 штук",), sig=("Ремстрой", "345-67-89")),
    "html_only_meta_charset.eml": Truth(new=("аренды опалубки",)),
    "html_only_script_style.eml": Truth(
        new=("вентилируемого фасада", "Площадь: 800 м2", "Материал: керамогранит")
    ),
    "mailru_koi8r_q.eml": Truth(new=("Раменском районе",), sig=("Отправлено из мобильной",)),
    "mislabeled_charset.eml": Truth(new=("краска фасадная",)),
    "missing_close_boundary.eml": Truth(new=("проект бани",)),
    "nested_multipart_apple_html.eml": Truth(new=("120 m2 timber frame house",)),
    "no_boundary_parameter.eml": Truth(new=("8 aluminium windows",)),
    "no_message_id.eml": Truth(new=("deliver to Tver",)),
    "outlook_cp1251_b.eml": Truth(new=("RAL 3005",)),
    "outlook_cp1251_q.eml": Truth(
        new=("в Мытищи",), sig=("Начальник отдела снабжения", "ИНН 7701234567", "123-45-67")
    ),
    "outlook_suppress_normal_mail.eml": Truth(
        new=("estimate the flooring",), sig=("Kind regards", "700-11-22")
    ),
    "phone_in_body_contact_line.eml": Truth(
        new=("40 мешков", "Контактный телефон"), cut=("000-11-22",)
    ),
    "phone_last_line_no_signature.eml": Truth(new=("Нужен расчёт кровли",)),
    "reply_apple_iphone_ru.eml": Truth(
        new=("в четверг в 11",), sig=("Отправлено с iPhone",), cut=("Предлагаем замер",)
    ),
    "reply_gmail_ru.eml": Truth(new=("Согласны, ждем счет.",), cut=("350 000", "20 мая 2024")),
    "reply_gmail_wrapped_attribution.eml": Truth(
        new=("invoice for 40 pallets",), cut=("1 200 000", "wrote:", "Dear Mr. Brown")
    ),
    "reply_mailru_html.eml": Truth(
        new=("будет скидка?",), sig=("Людмила Егорова",), cut=("68 000", "Понедельник")
    ),
    "reply_outlook_original_message.eml": Truth(
        new=("order 3 more containers",),
        sig=("Procurement Manager", "7946 0958"),
        cut=("2 450 EUR", "Original Message"),
    ),
    "reply_outlook_ru_from_sent.eml": Truth(
        new=("с 9 до 12",), sig=("Игорь Волков", "985 111-22-33"), cut=("96 500", "Отправлено:")
    ),
    "reply_owa_html_only.eml": Truth(
        new=("deliver on Friday instead?",), sig=("Site coordinator",), cut=("8:00", "Dear Laura")
    ),
    "reply_thunderbird_bottom_post.eml": Truth(
        new=("18 кубов B25",), sig=("Степан Гусев", "123-45-67"), cut=("Какой объем", "пишет:")
    ),
    "reply_to_form_robot.eml": Truth(new=("доставка песка", "Телефон: +7 999 123-45-67")),
    "reply_to_noreply_ignored.eml": Truth(new=("монтаж водостока",)),
    "reply_to_person_differs.eml": Truth(new=("3x4 m gazebo",)),
    "reply_yandex_html_only.eml": Truth(
        new=("12 рулонов",), sig=("Павел Никитин", "700-11-22"), cut=("4 300", "20.05.2024")
    ),
    "sender_on_behalf.eml": Truth(new=("тендере на поставку",)),
    "threaded_long_references.eml": Truth(new=("sign on Monday",)),
    "thunderbird_koi8r_flowed.eml": Truth(new=("в Гатчину",), sig=("Дмитрий Соколов", "555-12-34")),
    "unknown_charset.eml": Truth(new=("межкомнатных дверей",)),
}

TEXTS: dict[str, TextCase] = {
    "outlook_ru_original_message": TextCase(
        "Добрый день, подтверждаем.\n\n-----Исходное сообщение-----\n"
        "От: ACME <sales@acme.ru>\nОтправлено: 20 мая 2024 г. 10:15\nКому: Иван <i@x.ru>\n"
        "Тема: Счёт\n\nСчёт на 120 000 руб.\n",
        Truth(new=("подтверждаем",), cut=("120 000",)),
    ),
    "outlook_ru_rule_reply": TextCase(
        "Спасибо, ждём машину.\n\n________________________________\n"
        "От: Отдел продаж ACME <sales@acme.ru>\nОтправлено: 20 мая 2024 г. 10:15\n"
        "Кому: Иван <i@x.ru>\nТема: Доставка\n\nМашина будет в 9:00.\n",
        Truth(new=("ждём машину",), cut=("Машина будет в 9:00",)),
    ),
    "outlook_en_bold_headers": TextCase(
        "Fine, go ahead.\n\n*From:* ACME Sales <sales@acme.ru>\n*Sent:* Monday, May 20, 2024\n"
        "*To:* Tom <t@x.com>\n*Subject:* Offer\n\nOur offer is 900 EUR.\n",
        Truth(new=("go ahead",), cut=("900 EUR",)),
    ),
    "thunderbird_en_reply": TextCase(
        "Yes, Tuesday works.\n\nOn 20/05/2024 10:15, ACME Sales wrote:\n"
        "> Can we deliver on Tuesday?\n",
        Truth(new=("Tuesday works",), cut=("Can we deliver",)),
    ),
    "yandex_ru_reply": TextCase(
        'Согласен.\n\n20.05.2024, 10:15, "Отдел продаж" <sales@acme.ru>:\n> Цена 1000 руб.\n',
        Truth(new=("Согласен",), cut=("Цена 1000",)),
    ),
    "apple_en_reply_footer": TextCase(
        "Sounds good.\n\nSent from my iPhone\n\n"
        "> On 20 May 2024, at 10:15, ACME <sales@acme.ru> wrote:\n>\n> Price is 500 EUR.\n",
        Truth(new=("Sounds good",), sig=("Sent from my iPhone",), cut=("500 EUR",)),
    ),
    "interleaved_bottom_post": TextCase(
        "> Сколько нужно?\n20 кубов.\n> Куда везти?\nВ Химки.\n",
        Truth(new=("20 кубов", "В Химки"), cut=("Сколько нужно", "Куда везти")),
    ),
    "gmail_ru_forward": TextCase(
        "Посмотрите, пожалуйста.\n\n---------- Пересылаемое сообщение ---------\n"
        "От: Клиент <c@x.ru>\nDate: пн, 20 мая 2024 г. в 18:02\nSubject: Запрос\n"
        "To: <me@x.ru>\n\nНужна цена на 10 тонн песка.\n",
        Truth(new=("Посмотрите",), fwd=("10 тонн песка",)),
        is_forward=True,
    ),
    "outlook_ru_forward": TextCase(
        "Передаю клиента.\n\nОт: Клиент <c@x.ru>\nОтправлено: 20 мая 2024 г. 18:02\n"
        "Кому: me@x.ru\nТема: Запрос\n\nНужны 3 бытовки.\n",
        Truth(new=("Передаю клиента",), fwd=("3 бытовки",)),
        is_forward=True,
    ),
    "wrote_inside_a_sentence": TextCase(
        "Как вы и писали: цена 500 руб. Согласны.\nYou wrote: deliver Monday, fine.\nЖдём счёт.\n",
        Truth(new=("Согласны", "deliver Monday", "Ждём счёт")),
    ),
    "inline_valediction_ru": TextCase(
        "Нужен кран на 2 дня.\n\nС уважением, Иван Петров\nтел. 8 903 555 12 34\n",
        Truth(new=("кран на 2 дня",), sig=("С уважением", "8 903 555 12 34")),
    ),
    "mailru_android_footer": TextCase(
        "Перезвоните мне.\n\n--\nОтправлено из Почты Mail.ru для Android\n",
        Truth(new=("Перезвоните мне",), sig=("Отправлено из Почты",)),
    ),
    "hyphen_list_is_not_a_signature": TextCase(
        "Нужны:\n- плитка 30 м2\n- клей 10 мешков\nСпасибо\n",
        Truth(new=("плитка 30 м2", "клей 10 мешков")),
    ),
    "en_best_regards_company": TextCase(
        "Please quote 10 pallets.\n\nBest regards,\nJohn Smith\nSmith & Co\n+44 20 7946 0958\n",
        Truth(new=("quote 10 pallets",), sig=("Smith & Co", "7946 0958")),
    ),
    # Written after the rest, without looking at any splitter's rules: styles seen in
    # real mail that no splitter here was built for.
    "signature_without_marker": TextCase(
        "Прошу счёт на 5 рулонов.\n\nИван Петров\nООО «Ромашка»\n+7 903 555 12 34\n",
        Truth(new=("5 рулонов",), sig=("ООО «Ромашка»", "+7 903 555 12 34")),
    ),
    "thanks_ru_signoff": TextCase(
        "Пришлите счёт.\n\nСпасибо,\nИван\n+7 903 555 12 34\n",
        Truth(new=("Пришлите счёт",), sig=("+7 903 555 12 34",)),
    ),
    "en_best_signoff": TextCase(
        "Can you ship by Friday?\n\nBest,\nTom Lee\nLee Builders\n",
        Truth(new=("ship by Friday",), sig=("Lee Builders",)),
    ),
    "gmail_ru_attribution_wrapped_at_address": TextCase(
        "Хорошо, берём.\n\nпн, 20 мая 2024 г. в 10:15, Отдел продаж ACME <\n"
        "sales@acme.ru>:\n\n> Цена 7 800 руб. за м3.\n",
        Truth(new=("берём",), cut=("7 800",)),
    ),
    "mailru_quoted_attribution": TextCase(
        "Да, подходит.\n\n> Среда, 22 мая 2024, 10:00 +03:00 от ACME <sales@acme.ru>:\n"
        "> Доставка 25 мая, 5 400 руб.\n",
        Truth(new=("подходит",), cut=("5 400",)),
    ),
}
