"""Errors of the ingest package.

IngestError
├── StoreUnavailable   the database kept failing past the retry limit; exit non-zero
└── ConsumerStopped    the consumer was used after it was closed
"""


class IngestError(Exception):
    pass


class StoreUnavailable(IngestError):
    pass


class ConsumerStopped(IngestError, RuntimeError):
    pass
