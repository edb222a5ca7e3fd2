"""Patchbay's Python client.

>>> from patchbay_client import connect
>>> client = connect("127.0.0.1:50051", token)
>>> for connection in client.list_connections("acme"):
...     print(connection.name)

The generated messages are in ``patchbay_client.v1``.
"""

from ._client import KEEPALIVE_OPTIONS, Client, connect, paged
from ._errors import FieldViolation, PatchbayError
from ._policy import RetryPolicy
from ._watch import Resync

__all__ = [
    "KEEPALIVE_OPTIONS",
    "Client",
    "FieldViolation",
    "PatchbayError",
    "Resync",
    "RetryPolicy",
    "connect",
    "paged",
]
