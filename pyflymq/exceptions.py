"""Public exception types of pyflymq (re-exported from :mod:`pyflymq_core.errors`).

Usage, as in the README::

    from pyflymq.exceptions import FlyMQError, TopicNotFoundError

Every exception carries ``e.hint`` with advice. ``ConnectionError`` and ``TimeoutError`` shadow the
builtins inside this module on purpose; they also subclass the builtin types, so ``except OSError``
and ``except builtins.TimeoutError`` still catch them.
"""

from pyflymq_core.errors import (
    AlreadyExistsError,
    AuthenticationError,
    AuthorizationError,
    BufferFullError,
    ConfigurationError,
    ConnectionError,
    DecryptionError,
    FeatureDisabledError,
    FlyMQError,
    GroupNotFoundError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    MissingExtraError,
    NotFoundError,
    NotLeaderError,
    OffsetOutOfRangeError,
    PartitionFullError,
    PartitionNotFoundError,
    ProtocolError,
    SchemaCompatibilityError,
    SchemaError,
    SchemaNotFoundError,
    SchemaValidationError,
    SecurityError,
    ServerError,
    TimeoutError,
    TopicNotFoundError,
    TransactionError,
    UnsupportedOperationError,
    UserNotFoundError,
)

__all__ = [
    "AlreadyExistsError",
    "AuthenticationError",
    "AuthorizationError",
    "BufferFullError",
    "ConfigurationError",
    "ConnectionError",
    "DecryptionError",
    "FeatureDisabledError",
    "FlyMQError",
    "GroupNotFoundError",
    "InvalidArgumentError",
    "InvalidArgumentTypeError",
    "MissingExtraError",
    "NotFoundError",
    "NotLeaderError",
    "OffsetOutOfRangeError",
    "PartitionFullError",
    "PartitionNotFoundError",
    "ProtocolError",
    "SchemaCompatibilityError",
    "SchemaError",
    "SchemaNotFoundError",
    "SchemaValidationError",
    "SecurityError",
    "ServerError",
    "TimeoutError",
    "TopicNotFoundError",
    "TransactionError",
    "UnsupportedOperationError",
    "UserNotFoundError",
]
