"""HTML mail bodies as readable plain text, for the email channel's pure core.

`html_to_text` turns what mail clients send (Outlook's Word HTML, Gmail's nested divs,
Yandex and Mail.ru blockquotes) into text a manager can read: script, style and head
content dropped, links kept as "text (url)", block elements as line breaks, and quoted
blocks (`<blockquote>`) prefixed with "> " so the quote stripper treats them like plain
quoted lines. Known signature containers get a "-- " delimiter before them. Standard
library only: no I/O, and no imports of ours.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Content of these elements is never text the sender meant the reader to see.
_DROPPED = frozenset({"script", "style", "head", "title", "noscript", "template", "svg", "xml"})
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "dd", "div", "dl", "dt", "figure", "footer", "form",
        "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p",
        "pre", "section", "table", "tbody", "tfoot", "thead", "tr", "ul", "center",
    }
)  # fmt: skip
# Void elements never get an end tag, so they must not be pushed on the drop stack.
_VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "wbr"})
# After these a blank line separates paragraphs; a bare <div> is just a line break.
_PARAGRAPHS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "pre"})
_SIGNATURE_CLASSES = frozenset({"gmail_signature", "moz-signature"})
_SIGNATURE_IDS = frozenset({"signature", "appendonsend"})
_LINK_SCHEMES = ("http://", "https://", "mailto:", "tel:")
_SPACES = re.compile(r"[ \t\r\n\f\v\xa0\u200b]+")
_BLANK_RUNS = re.compile(r"\n{3,}")


def html_to_text(html: str) -> str:
    """Readable text of an HTML body; never raises on malformed markup."""
    converter = _TextConverter()
    try:
        converter.feed(html)
        converter.close()
    except (AssertionError, ValueError):
        # HTMLParser gives up on a few pathological inputs; keep what was read so far.
        pass
    return converter.text()


class _TextConverter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._lines: list[str] = []
        self._line: list[str] = []
        self._drop_depth = 0
        self._quote_depth = 0
        self._pre_depth = 0
        self._links: list[tuple[str, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED and tag not in _VOID:
            self._drop_depth += 1
            return
        if self._drop_depth:
            return
        attributes = {name: value or "" for name, value in attrs}
        if tag == "br":
            self._flush(keep_empty=True)
        elif tag == "blockquote":
            self._flush()
            self._quote_depth += 1
        elif tag in _BLOCKS:
            self._flush()
            if tag == "li":
                self._line.append("- ")
            if tag == "pre":
                self._pre_depth += 1
        elif tag in ("td", "th") and self._line:
            self._line.append(" ")
        elif tag == "a":
            self._links.append((attributes.get("href", "").strip(), len(self._line)))
        if _is_signature(attributes):
            self._flush()
            self._lines.append(self._prefix() + "-- ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # `<br/>` and `<div/>` in XHTML-ish Outlook markup: a start with no content.
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED and tag not in _VOID:
            self._drop_depth = max(0, self._drop_depth - 1)
            return
        if self._drop_depth:
            return
        if tag == "blockquote":
            self._flush()
            self._quote_depth = max(0, self._quote_depth - 1)
            if not self._quote_depth:
                self._separate()
        elif tag in _BLOCKS:
            self._flush()
            if tag == "pre":
                self._pre_depth = max(0, self._pre_depth - 1)
            if tag in _PARAGRAPHS:
                self._separate()
        elif tag == "a" and self._links:
            self._close_link(*self._links.pop())

    def handle_data(self, data: str) -> None:
        if self._drop_depth:
            return
        if self._pre_depth:
            first, *rest = data.replace("\r\n", "\n").split("\n")
            self._line.append(first)
            for line in rest:
                self._flush(keep_empty=True)
                self._line.append(line)
            return
        self._line.append(_SPACES.sub(" ", data))

    def _close_link(self, href: str, start: int) -> None:
        """Show where a link goes: "text (url)", or just the url when there is no text."""
        if not href.lower().startswith(_LINK_SCHEMES):
            return  # javascript:, cid:, anchors: nothing the reader can follow.
        target = href.split(":", 1)[1] if href.lower().startswith(("mailto:", "tel:")) else href
        label = "".join(self._line[start:]).strip()
        if not label:
            self._line.append(target)
        elif label != target and target not in label:
            self._line.append(f" ({target})")

    def _prefix(self) -> str:
        return "> " * self._quote_depth

    def _flush(self, *, keep_empty: bool = False) -> None:
        line = "".join(self._line)
        self._line = []
        if not self._pre_depth:
            line = _SPACES.sub(" ", line).strip()
        if line or keep_empty:
            self._lines.append((self._prefix() + line).rstrip())

    def _separate(self) -> None:
        if self._lines and self._lines[-1].strip("> ") != "":
            self._lines.append(self._prefix().rstrip())

    def text(self) -> str:
        self._flush()
        joined = "\n".join(line.rstrip() for line in self._lines)
        return _BLANK_RUNS.sub("\n\n", joined).strip("\n")


def _is_signature(attributes: dict[str, str]) -> bool:
    classes = set(attributes.get("class", "").lower().split())
    return bool(classes & _SIGNATURE_CLASSES) or attributes.get("id", "").lower() in (
        _SIGNATURE_IDS
    )
