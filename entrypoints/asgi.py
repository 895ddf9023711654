"""The ASGI application that `latchkey serve` (and any ASGI server) imports."""

from entrypoints.http.app import create_app
from entrypoints.logging import configure_logging

configure_logging()
app = create_app()
