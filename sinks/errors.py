"""Which insert failures are worth retrying and which are the data's fault.

Vector's rule, followed here: retry only what can succeed later. A deterministic data
error (a value the column cannot hold, a row too large) would fail forever and block its
partition, so it is routed to the dead-letter table instead. Anything unknown is
treated as transient: holding a partition back is recoverable, dropping rows is not.
"""

from __future__ import annotations

import enum
import struct

from clickhouse_connect.driver.exceptions import DataError, Error

__all__ = ["DATA_ERROR_CODES", "ErrorKind", "RowError", "StoreAborted", "StoreUnreachable",
           "classify"]


class ErrorKind(enum.Enum):
    TRANSIENT = "transient"  # retry with backoff: connection, timeout, TOO_MANY_PARTS...
    DATA = "data"  # deterministic: bisect the batch and dead-letter the bad rows


class RowError(ValueError):
    """A record that cannot become a row; `code` is a deadletter reason_code."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class StoreAborted(RuntimeError):
    """The sink was asked to stop while an insert was still being retried."""


# Server error codes that depend only on the data sent (ClickHouse ErrorCodes.cpp).
DATA_ERROR_CODES = frozenset({
    6,    # CANNOT_PARSE_TEXT
    26,   # CANNOT_PARSE_QUOTED_STRING
    27,   # CANNOT_PARSE_INPUT_ASSERTION_FAILED
    32,   # ATTEMPT_TO_READ_AFTER_EOF
    33,   # CANNOT_READ_ALL_DATA
    38,   # CANNOT_PARSE_DATE
    41,   # CANNOT_PARSE_DATETIME
    53,   # TYPE_MISMATCH
    69,   # ARGUMENT_OUT_OF_BOUND
    70,   # CANNOT_CONVERT_TYPE
    72,   # CANNOT_PARSE_NUMBER
    117,  # INCORRECT_DATA
    128,  # TOO_LARGE_ARRAY_SIZE
    131,  # TOO_LARGE_STRING_SIZE
    321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    349,  # CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
    395,  # FUNCTION_THROW_IF_VALUE_IS_NON_ZERO (a CHECK-like constraint in an MV)
    469,  # VIOLATED_CONSTRAINT
})


def classify(exc: BaseException) -> ErrorKind:
    """Decide whether retrying `exc` could ever succeed."""
    if isinstance(exc, RowError | TypeError | ValueError | AttributeError | struct.error):
        # Raised while the client serialises columns: the values themselves are wrong.
        return ErrorKind.DATA
    if isinstance(exc, DataError) and exc.code is None:
        return ErrorKind.DATA  # client-side "Unable to create native array" and friends
    if isinstance(exc, Error) and exc.code in DATA_ERROR_CODES:
        return ErrorKind.DATA
    return ErrorKind.TRANSIENT


class StoreUnreachable(RuntimeError):
    """The store could not be reached or refused the login; the message names its DSN,
    masked, and says what to check."""
