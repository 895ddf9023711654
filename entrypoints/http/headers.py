"""Request headers read as their senders wrote them."""

from __future__ import annotations

from starlette.requests import Request

from domain.session import device_name_from_agent


def user_agent(request: Request) -> str | None:
    """The User-Agent in UTF-8, as clients send non-ASCII text: Starlette decodes
    header bytes as Latin-1, which would make a "€" three characters, two of
    them C1 controls. Bytes that are no UTF-8 become U+FFFD."""
    value = request.headers.get("user-agent")
    if value is None:
        return None
    return value.encode("latin-1").decode("utf-8", errors="replace")


def device_name(request: Request) -> str | None:
    """A session's name when its client gave none: what its User-Agent says."""
    return device_name_from_agent(user_agent(request))
