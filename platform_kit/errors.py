"""Error classes that decide how a failing handler is retried."""

from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError, NodeNotReadyError, RequestTimedOutError
from pymongo.errors import ConnectionFailure, ServerSelectionTimeoutError


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
