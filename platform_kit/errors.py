"""Error classes that decide how a failing handler is retried."""

from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    CorruptRecordException,
    GroupAuthorizationFailedError,
    InvalidMessageError,
    InvalidTimestampError,
    InvalidTopicError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NodeNotReadyError,
    PolicyViolationError,
    RecordListTooLargeError,
    RecordTooLargeError,
    RequestTimedOutError,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
    UnsupportedForMessageFormatError,
)
from pymongo.errors import ConnectionFailure, ServerSelectionTimeoutError


class PermanentPublishError(Exception):
    """Some records can never be published as they are (too large, forbidden topic...): waiting would not help.

    Not a KafkaError on purpose: it must never be taken for an outage. `failed` holds (index of the record in the
    batch, the broker's or client's error); the other records of the batch were published.
    """

    def __init__(self, failed: list[tuple[int, BaseException]]) -> None:
        super().__init__("; ".join(f"#{i}: {exc!r}" for i, exc in failed))
        self.failed = failed


class TransientError(Exception):
    """A dependency of the handler (SMTP relay, head-end...) is unavailable: retry with backoff for a long while."""


#: Our own broker or store is unreachable: retried with capped backoff until it comes back, never dead-lettered.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionFailure,
    ServerSelectionTimeoutError,
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
    KafkaError,
)

#: Kafka errors about the record or our rights, not about availability: the same record fails again however long we
#: wait. They are classed before INFRASTRUCTURE_ERRORS (whose KafkaError would otherwise match them) and lead to a dead
#: letter and, for a demand, a refusal: never to an endless retry that halts a lane.
PERMANENT_KAFKA_ERRORS: tuple[type[BaseException], ...] = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    InvalidTopicError,
    InvalidMessageError,
    InvalidTimestampError,
    CorruptRecordException,
    PolicyViolationError,
    UnsupportedForMessageFormatError,
    TopicAuthorizationFailedError,
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
)
