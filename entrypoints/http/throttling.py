"""What the per-IP request budgets key on."""

from fastapi import Request


def client_ip(request: Request) -> str | None:
    """The peer address; behind a trusted proxy the server puts the forwarded one here."""
    return request.client.host if request.client else None
