"""The ASGI application that `latchkey serve` (and any ASGI server) imports."""

from entrypoints.http.app import create_app
from entrypoints.logging import configure_logging
from entrypoints.memory import keep_hash_buffers_warm

keep_hash_buffers_warm()
configure_logging()
app = create_app()
