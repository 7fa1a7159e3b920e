"""Fixtures of the integration tests beyond the root conftest: the real mail servers."""

from tests.servers import dovecot, smtp_sink

__all__ = ["dovecot", "smtp_sink"]
