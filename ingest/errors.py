"""Errors of the ingest package.

IngestError
├── Poison             one input failed for a non-transient reason (bad data, a bug);
│                      `cause` is the original exception. The batch is split until the
│                      input is alone, which goes to the dead-letter topic.
├── Interrupted        the stop event was set while a transient fault was being retried;
│                      the batch in hand is left uncommitted and replays
└── ConsumerStopped    the consumer was used after it was closed
"""


class IngestError(Exception):
    pass


class Poison(IngestError):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


class Interrupted(IngestError):
    pass


class ConsumerStopped(IngestError, RuntimeError):
    pass
