"""The contract between connectors and the consumer: `Inquiry` and identity rules.

Connectors import this package and nothing else of `ingest`.
"""

from ingest.contract.identity import (
    InvalidIdentity,
    identity_key,
    is_canonical_phone,
    normalize_email,
    normalize_phone,
)
from ingest.contract.inquiry import (
    SCHEMA_VERSION,
    Channel,
    ClientInfo,
    Inquiry,
    Review,
    Routing,
    Sender,
    Source,
    inquiry_json_schema,
    new_inquiry_id,
)
from ingest.contract.outbound import OutboundMessage
from ingest.contract.phones import (
    PHONE_EXTENSION_FIELD,
    PHONE_NOTE_FIELD,
    FoundPhone,
    PhoneField,
    find_phones,
    first_phone,
    phone_fields,
    read_phone_field,
)
from ingest.contract.topics import METADATA_MAX_AGE_MS, PRODUCER_COMPRESSION, Topics

__all__ = [
    "METADATA_MAX_AGE_MS",
    "PHONE_EXTENSION_FIELD",
    "PHONE_NOTE_FIELD",
    "PRODUCER_COMPRESSION",
    "SCHEMA_VERSION",
    "Channel",
    "ClientInfo",
    "FoundPhone",
    "Inquiry",
    "InvalidIdentity",
    "OutboundMessage",
    "PhoneField",
    "Review",
    "Routing",
    "Sender",
    "Source",
    "Topics",
    "find_phones",
    "first_phone",
    "identity_key",
    "inquiry_json_schema",
    "is_canonical_phone",
    "new_inquiry_id",
    "normalize_email",
    "normalize_phone",
    "phone_fields",
    "read_phone_field",
]
