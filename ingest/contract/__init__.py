"""The contract between connectors and the consumer: `Inquiry` and identity rules.

Connectors import this package and nothing else of `ingest`.
"""

from ingest.contract.identity import (
    InvalidIdentity,
    identity_key,
    normalize_email,
    normalize_phone,
)
from ingest.contract.inquiry import (
    SCHEMA_VERSION,
    Channel,
    ClientInfo,
    Inquiry,
    Routing,
    Sender,
    Source,
    inquiry_json_schema,
)
from ingest.contract.outbound import OutboundMessage
from ingest.contract.topics import Topics

__all__ = [
    "SCHEMA_VERSION",
    "Channel",
    "ClientInfo",
    "Inquiry",
    "InvalidIdentity",
    "OutboundMessage",
    "Routing",
    "Sender",
    "Source",
    "Topics",
    "identity_key",
    "inquiry_json_schema",
    "normalize_email",
    "normalize_phone",
]
