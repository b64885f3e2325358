"""The exceptions arrowport raises, one class per error kind of the Rust core.

Every exception carries ``kind`` (the core's error kind), ``temporary`` (retrying may
succeed), ``request_id`` (the remote's, when it answered) and ``context`` (plugin, task id,
session id, ...). Their message is what the CLI prints after ``error:``, causes included.
"""

import builtins

__all__ = [
    "ArrowportError",
    "ConfigError",
    "UnsupportedError",
    "NotFoundError",
    "PermissionError",
    "RemoteError",
    "IoError",
    "DataIntegrityError",
    "Cancelled",
]


class ArrowportError(Exception):
    """Base class of every arrowport error."""

    kind: str = "unexpected"
    temporary: bool = False
    request_id = None
    context: dict = {}


class ConfigError(ArrowportError, ValueError):
    """Bad options, URL, columns or arguments: change the call. Nothing was contacted or written."""


class UnsupportedError(ConfigError):
    """A valid request that this plugin or format cannot do."""


class NotFoundError(ArrowportError, LookupError):
    """A collection, table, partition, task or file does not exist."""


class PermissionError(ArrowportError, builtins.PermissionError):
    """Missing or rejected credentials."""


class RemoteError(ArrowportError):
    """The remote service failed (or kept asking to slow down)."""


class IoError(ArrowportError, OSError):
    """Local or network I/O failed."""


class DataIntegrityError(ArrowportError):
    """Rows, sizes, checksums or types do not add up: data would be lost or changed."""


class Cancelled(ArrowportError):
    """The work was cancelled (a Ctrl-C raises KeyboardInterrupt instead)."""
