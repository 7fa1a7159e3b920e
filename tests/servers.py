"""Real mail servers for the tests: Dovecot (IMAP) and aiosmtpd (SMTP), started here.

`Dovecot` runs the Debian binary as root with a throwaway configuration in a
temporary directory (SERVICES.md): loopback only, no TLS, a passwd-file of users
that tests add on the fly (`add_user`), Maildir storage. `MailSink` is aiosmtpd's
in-process `Controller` with a handler that keeps every message it accepts, and
optional AUTH. A test that needs Dovecot on a machine without it fails when
`CI=true` (never a silent skip there) and is skipped otherwise.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aioimaplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

# aiosmtpd's thread logs each client's EOF at INFO, sometimes after pytest has closed
# the captured stream it writes to: a '--- Logging error ---' page per sent mail.
logging.getLogger("mail.log").setLevel(logging.WARNING)

DOVECOT = Path("/usr/sbin/dovecot")
MAIL_UID = 65534
PASSWORD = "secret"
USERS = 2000

_CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
info_log_path = {dir}/dovecot.log
ssl = {ssl}
{ssl_files}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
mail_privileged_group =
first_valid_uid = 1
last_valid_uid = 0
default_login_user = dovenull
default_internal_user = dovecot
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {dir}/users
}}
userdb {{
  driver = passwd-file
  args = {dir}/users
  default_fields = uid={uid} gid={uid} home={dir}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ssl_port}
  }}
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_dovecot() -> None:
    """Fail in CI, skip elsewhere, when the Dovecot binary is not installed."""
    if DOVECOT.exists():
        return
    message = (
        "Dovecot is not installed (/usr/sbin/dovecot); run scripts/ensure-services "
        "(apt-get install dovecot-imapd dovecot-lmtpd)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Dovecot:
    """One running Dovecot; `add_user` gives each test its own fresh mailbox."""

    directory: Path
    port: int
    ssl_port: int = 0
    cert_file: Path | None = None
    _next_user: int = -1

    @classmethod
    def start(cls, *, with_ssl: bool = False) -> Dovecot:
        # Dovecot's auth process runs as user dovecot: it must traverse the directory,
        # which pytest's 0700 temp dirs do not allow.
        directory = Path(tempfile.mkdtemp(prefix="leadflow-dovecot-"))
        directory.chmod(0o755)
        for sub in ("run", "state", "mail"):
            (directory / sub).mkdir(exist_ok=True)
        os.chown(directory / "mail", MAIL_UID, MAIL_UID)
        (directory / "users").write_text(
            "".join(f"{_user(directory, i)}:{{PLAIN}}{PASSWORD}::::::\n" for i in range(USERS))
        )
        server = cls(directory, free_port(), free_port() if with_ssl else 0)
        ssl_files = ""
        if with_ssl:
            server.cert_file, key = _self_signed(directory)
            ssl_files = f"ssl_cert = <{server.cert_file}\nssl_key = <{key}"
        (directory / "dovecot.conf").write_text(
            _CONFIG.format(
                dir=directory,
                uid=MAIL_UID,
                port=server.port,
                ssl_port=server.ssl_port,
                ssl="yes" if with_ssl else "no",
                ssl_files=ssl_files,
            )
        )
        subprocess.run([str(DOVECOT), "-c", str(directory / "dovecot.conf")], check=True)
        server._wait_listening()
        return server

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"Dovecot did not listen; see {self.directory / 'dovecot.log'}")

    def stop(self) -> None:
        pid_file = self.directory / "run" / "master.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().strip())
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.02)
        shutil.rmtree(self.directory, ignore_errors=True)

    def add_user(self) -> str:
        """A user nobody used yet (an empty mailbox); its password is `PASSWORD`.

        Users are written up front: Dovecot re-reads its passwd-file at most once a
        second, so a user appended now might not exist for the next login.
        """
        self._next_user += 1
        if self._next_user >= USERS:
            raise RuntimeError(f"this Dovecot has only {USERS} test users")
        return _user(self.directory, self._next_user)

    def ssl_context(self) -> ssl.SSLContext:
        assert self.cert_file is not None
        return ssl.create_default_context(cafile=str(self.cert_file))

    def maildir(self, user: str) -> Path:
        return self.directory / "mail" / user / "Maildir"


def _user(directory: Path, number: int) -> str:
    return f"u{number:04d}.{directory.name[-6:].lower()}@example.test"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            shutil.which("openssl") or "openssl",
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    require_dovecot()
    server = Dovecot.start()
    yield server
    server.stop()


class ImapClient:
    """A test's own IMAP session: put mail in, look at flags. Not the code under test."""

    def __init__(self, port: int, user: str) -> None:
        self._port = port
        self._user = user
        self._imap: aioimaplib.IMAP4 | None = None

    async def __aenter__(self) -> ImapClient:
        self._imap = aioimaplib.IMAP4("127.0.0.1", self._port, timeout=10)
        await self._imap.wait_hello_from_server()
        response = await self._imap.login(self._user, PASSWORD)
        assert response.result == "OK", response
        return self

    async def __aexit__(self, *exc: object) -> None:
        imap, self._imap = self._imap, None
        if imap is not None:
            await imap.logout()
            # The server closes after BYE, but do not leave that race to the GC.
            imap.protocol.transport.close()

    @property
    def imap(self) -> aioimaplib.IMAP4:
        assert self._imap is not None
        return self._imap

    async def append(self, raw: bytes, folder: str = "INBOX", flags: str | None = None) -> None:
        response = await self.imap.append(raw, mailbox=folder, flags=flags)
        assert response.result == "OK", response

    async def create(self, folder: str) -> None:
        await self.imap.create(folder)

    async def flags(self, folder: str = "INBOX") -> dict[int, set[str]]:
        """UID → flags of every message in `folder`."""
        response = await self.imap.select(folder)
        assert response.result == "OK", response
        fetched = await self.imap.uid("fetch", "1:*", "(UID FLAGS)")
        out: dict[int, set[str]] = {}
        for line in fetched.lines:
            text = bytes(line).decode(errors="replace")
            if " FETCH " not in text:
                continue
            uid = int(text.split("UID ", 1)[1].split()[0].rstrip(")"))
            flags = text.split("FLAGS (", 1)[1].split(")", 1)[0].split()
            out[uid] = set(flags)
        return out

    async def count(self, folder: str = "INBOX") -> int:
        return len(await self.flags(folder))


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes = b""  # the DATA as it crossed the wire, for checks of header bytes
    peer: Any = None  # the client's (host, port): one per SMTP session


@dataclass
class _SinkHandler:
    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    # A server that never answers QUIT, as a connection a firewall dropped silently.
    silent_quit: bool = False

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        while self.silent_quit:  # noqa: ASYNC110 (set from the test's thread)
            await asyncio.sleep(0.1)
        return "221 Bye"

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        received = Received(
            envelope.mail_from, list(envelope.rcpt_tos), message, envelope.content, session.peer
        )
        self.received.append(received)
        return "250 Message accepted for delivery"


class MailSink:
    """aiosmtpd in-process on a free loopback port; `received` lists every message."""

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        port: int | None = None,
    ) -> None:
        self._handler = _SinkHandler()
        self.port = port or free_port()
        kwargs: dict[str, Any] = {}
        if username is not None:
            kwargs = {
                "authenticator": _Authenticator(username, password or ""),
                "auth_require_tls": False,
            }
        self._controller = Controller(self._handler, hostname="127.0.0.1", port=self.port, **kwargs)

    def start(self) -> MailSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._handler.silent_quit = False
        self._controller.stop()

    def answer_no_quit(self) -> None:
        """Never answer QUIT (until stopped)."""
        self._handler.silent_quit = True

    def refuse(self, address: str) -> None:
        """Answer 550 to RCPT TO this address."""
        self._handler.refuse.add(address)

    @property
    def received(self) -> list[Received]:
        return self._handler.received

    async def wait_for(self, n: int, within: float = 10.0) -> list[Received]:
        async with asyncio.timeout(within):
            while len(self.received) < n:  # noqa: ASYNC110 (the server runs in a thread)
                await asyncio.sleep(0.02)
        return self.received


class _Authenticator:
    def __init__(self, username: str, password: str) -> None:
        self._expected = (username.encode(), password.encode())

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            (auth_data.login, auth_data.password) == self._expected
        )
        # handled=False: aiosmtpd answers; a failed login must not hang the client.
        return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_sink() -> Iterator[MailSink]:
    sink = MailSink().start()
    yield sink
    sink.stop()
