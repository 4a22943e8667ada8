"""Sync protocol v1: the pure library shared by the server and device clients.

Message types, merge rules and the reference device client arrive with issue 3; this
package deliberately imports nothing from FastAPI or the server's models.
"""

PROTOCOL_VERSION = 1
