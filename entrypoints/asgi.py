"""The ASGI application that `latchkey serve` (and any ASGI server) imports."""

from entrypoints.http.app import create_app
from entrypoints.logging import configure_logging
from entrypoints.memory import return_large_blocks_to_the_system

return_large_blocks_to_the_system()
configure_logging()
app = create_app()
