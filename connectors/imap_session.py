"""One IMAP connection to one mailbox folder, on aioimaplib: the protocol-level I/O.

`ImapSession` is an async context manager: it connects (SSL, STARTTLS or plain),
logs in and SELECTs the folder on enter, and logs out on exit (closing twice is
harmless; a broken connection is just closed). Its methods speak in UIDs: search for
UIDs above a bound, fetch raw messages without setting \\Seen (`BODY.PEEK[]`), mark
them \\Seen, move them (UID MOVE when the server has it, else COPY + \\Deleted +
EXPUNGE), and wait for new mail with IDLE. It also counts the server's reports that
the mailbox grew (untagged EXISTS) whatever command they come with, since aioimaplib
drops an EXISTS that comes with a UID SEARCH's answer and a server that said it once
does not say it again in the IDLE that follows: `reported_new_mail` tells the caller
to search again rather than wait. The response parsers at the bottom are pure
functions. Imports nothing of ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import aioimaplib

from .mail_config import MailboxConfig

log = logging.getLogger(__name__)

_SELECT_CODE = re.compile(rb"\[(UIDVALIDITY|UIDNEXT) (\d+)\]")
_FETCH_HEAD = re.compile(rb"^\d+ FETCH \(")
_UID = re.compile(rb"UID (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')
_SIZE_REPORT = re.compile(rb"\* (\d+) (EXISTS|EXPUNGE)")


class ImapError(RuntimeError):
    """The server refused a command or the connection broke; reconnecting may help."""


@dataclass(frozen=True, slots=True)
class SelectInfo:
    uidvalidity: int
    uidnext: int | None


@dataclass(frozen=True, slots=True)
class Fetched:
    uid: int
    raw: bytes
    internal_date: datetime | None


class _Protocol(aioimaplib.IMAP4ClientProtocol):  # type: ignore[misc]
    """aioimaplib's protocol, also counting `arrivals`: the untagged EXISTS responses
    that grew the mailbox, seen on every line the server sends (literals aside)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.size: int | None = None
        self.arrivals = 0

    def _handle_line(self, line: bytes, current_cmd: Any) -> Any:
        if line.startswith(b"* "):
            self.size, grew = count_size_report(self.size, line)
            self.arrivals += grew
        return super()._handle_line(line, current_cmd)


class _Client(aioimaplib.IMAP4):  # type: ignore[misc]
    """aioimaplib's client on `_Protocol` (the same as its `create_client`, our class)."""

    def create_client(
        self,
        host: str,
        port: int,
        loop: asyncio.AbstractEventLoop | None,
        conn_lost_cb: Any = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        running = loop if loop is not None else asyncio.get_running_loop()
        self.protocol = _Protocol(running, conn_lost_cb)
        self._client_task = running.create_task(
            running.create_connection(lambda: self.protocol, host, port, ssl=ssl_context)
        )


class ImapSession:
    """A logged-in session with `config.folder` selected."""

    def __init__(self, config: MailboxConfig) -> None:
        self._config = config
        self._imap: aioimaplib.IMAP4 | None = None
        self._lost = asyncio.Event()
        self._arrivals_searched = 0  # the arrivals counted when the last search was sent
        self.info: SelectInfo | None = None

    async def __aenter__(self) -> Self:
        if self._imap is not None:
            raise RuntimeError("an ImapSession is entered once")
        try:
            await self._open()
        except BaseException:
            await self._close(logout=False)
            raise
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._close(logout=et is None)

    # --- connection ------------------------------------------------------------------

    async def _open(self) -> None:
        c = self._config
        context = ssl.create_default_context(cafile=c.ca_file) if c.security != "plain" else None
        self._imap = _Client(
            c.host,
            c.port,
            timeout=c.timeout_s,
            conn_lost_cb=self._on_lost,
            ssl_context=context if c.security == "ssl" else None,
        )
        await self._imap.wait_hello_from_server()
        if c.security == "starttls":
            assert context is not None
            await self._starttls(context)
        _ok(await self._imap.login(c.username, c.password), "LOGIN")
        selected = _ok(await self._imap.select(_quote(c.folder)), f"SELECT {c.folder}")
        self.info = parse_select(selected.lines)

    async def _starttls(self, context: ssl.SSLContext) -> None:
        """aioimaplib has no STARTTLS: send it, then upgrade the transport in place."""
        imap = self._client()
        if not imap.has_capability("STARTTLS"):
            raise ImapError(f"{self._config.host} does not offer STARTTLS; use ssl")
        protocol = imap.protocol
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        _ok(await asyncio.wait_for(protocol.execute(command), self._config.timeout_s), "STARTTLS")
        loop = asyncio.get_running_loop()
        transport = await loop.start_tls(
            protocol.transport, protocol, context, server_hostname=self._config.host
        )
        protocol.transport = transport
        await asyncio.wait_for(protocol.capability(), self._config.timeout_s)

    def _on_lost(self, _exc: Exception | None) -> None:
        self._lost.set()
        if self._imap is not None:
            # Wake an IDLE wait: the connection it waits on is gone.
            self._imap.protocol.idle_queue.put_nowait(aioimaplib.STOP_WAIT_SERVER_PUSH)

    async def _close(self, *, logout: bool) -> None:
        imap, self._imap = self._imap, None
        if imap is None:
            return
        if logout and not self._lost.is_set() and not imap.has_pending_idle():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(imap.logout(), 2.0)
        transport = getattr(imap.protocol, "transport", None)
        if transport is not None:
            transport.close()
        for task in list(imap.tasks) + list(imap.protocol.tasks):
            task.cancel()

    def _client(self) -> aioimaplib.IMAP4:
        if self._imap is None:
            raise RuntimeError("use the ImapSession inside 'async with'")
        if self._lost.is_set():
            raise ImapError(f"the connection to {self._config.host} was lost")
        return self._imap

    @property
    def supports_idle(self) -> bool:
        return bool(self._client().has_capability("IDLE"))

    # --- commands --------------------------------------------------------------------

    async def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above `last_uid`, ascending ("n:*" also names the highest UID; drop it)."""
        imap = self._client()
        self._arrivals_searched = imap.protocol.arrivals
        response = await imap.uid_search(f"UID {last_uid + 1}:*", charset=None)
        return [uid for uid in parse_search(_ok(response, "UID SEARCH").lines) if uid > last_uid]

    async def unseen_uids(self) -> list[int]:
        response = await self._client().uid_search("UNSEEN", charset=None)
        return parse_search(_ok(response, "UID SEARCH UNSEEN").lines)

    async def fetch(self, uids: Sequence[int]) -> list[Fetched]:
        response = await self._client().uid(
            "fetch", uid_set(uids), "(UID INTERNALDATE BODY.PEEK[])"
        )
        return parse_fetch(_ok(response, "UID FETCH").lines)

    async def mark_seen(self, uids: Sequence[int]) -> None:
        response = await self._client().uid("store", uid_set(uids), "+FLAGS.SILENT (\\Seen)")
        _ok(response, "UID STORE")

    async def move(self, uids: Sequence[int], folder: str) -> None:
        imap, target, numbers = self._client(), _quote(folder), uid_set(uids)
        if imap.has_capability("MOVE"):
            _ok(await imap.uid("move", numbers, target), f"UID MOVE {folder}")
            return
        _ok(await imap.uid("copy", numbers, target), f"UID COPY {folder}")
        _ok(await imap.uid("store", numbers, "+FLAGS.SILENT (\\Deleted)"), "UID STORE")
        if imap.has_capability("UIDPLUS"):
            _ok(await imap.uid("expunge", numbers), "UID EXPUNGE")
        else:
            _ok(await imap.expunge(), "EXPUNGE")

    @property
    def reported_new_mail(self) -> bool:
        """Whether the server said the mailbox grew since the last `uids_after` began:
        that search may not have seen the new mail, and IDLE will not report it again."""
        return bool(self._client().protocol.arrivals != self._arrivals_searched)

    async def wait_for_mail(self, timeout_s: float) -> None:
        """Return when the server reports a change (IDLE) or after `timeout_s`."""
        imap = self._client()
        idle = await imap.idle_start(timeout=timeout_s)
        try:
            with contextlib.suppress(TimeoutError):
                await imap.wait_server_push(timeout_s + 5)
        finally:
            if not self._lost.is_set():
                imap.idle_done()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(idle, self._config.timeout_s)
        if self._lost.is_set():
            raise ImapError(f"the connection to {self._config.host} was lost")


def _ok(response: Any, what: str) -> Any:
    if response.result != "OK":
        text = b" ".join(bytes(line) for line in response.lines[-1:]).decode(errors="replace")
        raise ImapError(f"{what} failed: {response.result} {text}".strip())
    return response


def _quote(folder: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_./-]+", folder):
        return folder
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- pure parsers --------------------------------------------------------------------


def uid_set(uids: Sequence[int]) -> str:
    """`[1, 2, 3, 7]` → "1:3,7": the compact IMAP sequence set."""
    ordered = sorted(set(uids))
    if not ordered:
        raise ValueError("an empty UID set")
    parts: list[str] = []
    start = prev = ordered[0]
    for uid in ordered[1:]:
        if uid == prev + 1:
            prev = uid
            continue
        parts.append(f"{start}:{prev}" if prev > start else str(start))
        start = prev = uid
    parts.append(f"{start}:{prev}" if prev > start else str(start))
    return ",".join(parts)


def count_size_report(size: int | None, line: bytes) -> tuple[int | None, int]:
    """The mailbox's size after one untagged line, and 1 if that line says it grew
    (`* n EXISTS` above the size known; `* n EXPUNGE` takes one away), else 0."""
    found = _SIZE_REPORT.fullmatch(line)
    if found is None:
        return size, 0
    number = int(found.group(1))
    if found.group(2) == b"EXPUNGE":
        return (size - 1 if size else size), 0
    return number, int(size is not None and number > size)


def parse_select(lines: Sequence[bytes | bytearray]) -> SelectInfo:
    codes: dict[bytes, int] = {}
    for line in lines:
        for name, value in _SELECT_CODE.findall(bytes(line)):
            codes[name] = int(value)
    if b"UIDVALIDITY" not in codes:
        raise ImapError("the server did not report UIDVALIDITY on SELECT")
    return SelectInfo(codes[b"UIDVALIDITY"], codes.get(b"UIDNEXT"))


def parse_search(lines: Sequence[bytes | bytearray]) -> list[int]:
    """The numbers of a SEARCH answer; aioimaplib strips the "* SEARCH" prefix."""
    found: list[int] = []
    for line in lines[:-1]:  # the last line is the tagged completion text
        text = bytes(line).removeprefix(b"SEARCH").strip()
        found.extend(int(token) for token in text.split() if token.isdigit())
    return sorted(set(found))


def parse_fetch(lines: Sequence[bytes | bytearray]) -> list[Fetched]:
    """Each `n FETCH (UID u INTERNALDATE "..." BODY[] {size}` line is followed by the
    literal (a bytearray); the UID may also come after it, on the closing line."""
    out: list[Fetched] = []
    items = list(lines)
    for i, line in enumerate(items):
        if isinstance(line, bytearray) or not _FETCH_HEAD.match(line):
            continue
        literal = items[i + 1] if i + 1 < len(items) else None
        if not isinstance(literal, bytearray):
            continue
        tail = bytes(items[i + 2]) if i + 2 < len(items) else b""
        uid = _UID.search(line) or _UID.search(tail)
        if uid is None:
            continue
        out.append(Fetched(int(uid.group(1)), bytes(literal), _internal_date(line)))
    return out


def _internal_date(line: bytes) -> datetime | None:
    found = _INTERNALDATE.search(line)
    if found is None:
        return None
    try:
        return datetime.strptime(found.group(1).decode(), "%d-%b-%Y %H:%M:%S %z")
    except ValueError:
        return None
