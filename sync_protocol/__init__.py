"""Sync protocol v1: the pure library shared by the server and device clients.

``messages`` (the wire types), ``merge`` (the three-way field merge and its policies),
``store`` and ``client`` (the reference device client with its offline SQLite replica and
outbox) and ``cli`` (``sigap-device``).  Nothing here imports FastAPI or the server's
models; docs/sync-protocol.md is the specification.
"""

PROTOCOL_VERSION = 1
