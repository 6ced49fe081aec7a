"""Every error Wirewatch raises on purpose, in one tree; each carries a one-line reason a person can act on.

    WirewatchError
     ├── InputError (ValueError) .......... bad input from a person or a file: the CLI prints it and exits 2
     │    ├── QueryError .................. a search or query that cannot run
     │    │    └── QuerySyntaxError ......... a query that does not parse or is over a limit (``column``)
     │    ├── RegistryError ............... a feed-list entry that cannot be a feed
     │    └── RuleError ................... a watch rule that cannot be made
     ├── DecodeError (ValueError) ......... a topic or table value that is not a valid record (dead-lettered)
     ├── BrokerUnavailable ................ no Kafka broker answers at the configured address
     ├── ModelNotInstalled ................ the spaCy pipeline is not installed
 ├── ChildDied ........................ the spaCy child process ended while parsing (the batch is retried)
     ├── FetchError ....................... an HTTP request that gave no usable body (``kind`` labels metrics)
     ├── BlockedAddress (OSError) ......... a connection the address guard refused (raised in the socket factory)
     ├── FeedError ........................ bytes that are not a usable feed
     ├── FulltextError .................... an article page whose text cannot be used (``outcome``)
     ├── MessageTooLarge .................. a record that cannot be cut to fit WIREWATCH_MAX_MESSAGE_BYTES (dead-lettered)
     ├── DeliveryFailed ................... an alert that could not be delivered (dead-lettered)
     │    └── Gone ........................ the endpoint answered 410: the destination is disabled
     └── SinkUnavailable .................. the database cannot take a write now; retry after ``retry_after``

``BlockedAddress`` is an ``OSError`` because aiohttp only wraps OS errors from the socket factory into its
connection error; ``InputError`` and ``DecodeError`` are ``ValueError``\\ s so validation code that
expects one keeps working.
"""

from __future__ import annotations


class WirewatchError(Exception):
    """Base of every error Wirewatch raises on purpose."""


class InputError(WirewatchError, ValueError):
    """Input from a person or a file that cannot be used; the message says what and where."""


class QueryError(InputError):
    """A search or query that cannot be run, with the reason in words."""


class QuerySyntaxError(QueryError):
    """A query (a rule's or a search's) that does not parse or is over a limit; ``column`` is where (1-based)."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.column = column


class RegistryError(InputError):
    """A feed-list entry (URL, OPML outline, YAML item) that cannot become a feed."""


class RuleError(InputError):
    """A watch rule that cannot be made from what was given."""


class ChildDied(WirewatchError):
    """The child process that parses for the worker ended while a batch waited for it (killed, out of memory)."""


class DecodeError(WirewatchError, ValueError):
    """A topic or table value that is not a valid record of the expected type."""


class BrokerUnavailable(WirewatchError):
    """No Kafka broker answers at the configured address."""


class ModelNotInstalled(WirewatchError):
    """Neither the configured spaCy pipeline nor its alias is installed."""


class FetchError(WirewatchError):
    """A request that did not yield a usable body; ``kind`` is a stable label for metrics."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None, status: int | None = None, received: int = 0) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after
        self.status = status
        #: decompressed body bytes read before the request was given up
        self.received = received


class BlockedAddress(WirewatchError, OSError):
    """A connection to an address the guard forbids (loopback, private, link-local, ...)."""


class FeedError(WirewatchError):
    """A feed that cannot be used, with a one-line reason for the operator."""


class FulltextError(WirewatchError):
    """A page whose text cannot be used; ``outcome`` is a stable label for the metric."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome

    def __reduce__(self) -> tuple[type[FulltextError], tuple[str, str]]:
        # raised in a parser process and pickled back: rebuild it with both arguments
        return (FulltextError, (self.outcome, str(self)))


class MessageTooLarge(WirewatchError):
    """A record still over the message limit after every cut the size policy allows; it is dead-lettered by reference."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        #: the record's encoded size in bytes
        self.size = size


class DeliveryFailed(WirewatchError):
    """Every attempt to deliver an alert failed, or the endpoint refused it; the alert goes to the dead-letter topic."""


class Gone(DeliveryFailed):
    """The endpoint answered 410 (``newly``) or did so before: it wants no more deliveries, so the destination is disabled."""

    def __init__(self, message: str, newly: bool = False) -> None:
        super().__init__(message)
        self.newly = newly


class SinkUnavailable(WirewatchError):
    """The database cannot take a write right now (locked, restarting, unreachable); retry after ``retry_after`` s."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
