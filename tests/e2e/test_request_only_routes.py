"""Request-only routes: the endpoint gets the request and answers by itself,
without FastAPI's request handler unless FastAPI's telemetry records the request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Request, Response
from fastapi import routing as fastapi_routing
from fastapi.telemetry import TelemetryConfig
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN_CONTEXT, NonRecordingSpan, NoOpTracer, Span
from pydantic import BaseModel

from entrypoints.http.request_only import RequestOnlyRoute, request_only
from tests.e2e.conftest import Api


class Answer(BaseModel):
    path: str


def _echo_router() -> APIRouter:
    router = APIRouter(prefix="/v1")

    @request_only(router, "/echo/{name}", methods=["GET"], response_model=Answer)
    async def echo(request: Request) -> Response:
        if request.query_params.get("fail"):
            raise HTTPException(418, "asked to fail")
        return Response(Answer(path=request.url.path).model_dump_json())

    return router


def _app(telemetry: TelemetryConfig | None = None) -> FastAPI:
    app = FastAPI(telemetry=telemetry or {"tracing": False, "metrics": False, "logs": False})
    app.router.routes.extend(_echo_router().routes)  # the app's own, as create_app does
    return app


def test_the_endpoint_answers_with_its_own_response_and_errors_reach_the_handlers() -> None:
    client = TestClient(_app())
    assert client.get("/v1/echo/ada").json() == {"path": "/v1/echo/ada"}
    failed = client.get("/v1/echo/ada", params={"fail": "1"})
    assert (failed.status_code, failed.json()) == (418, {"detail": "asked to fail"})
    assert client.post("/v1/echo/ada").status_code == 405


def test_the_operation_is_documented_as_an_api_route_would_be() -> None:
    operation = _app().openapi()["paths"]["/v1/echo/{name}"]["get"]
    assert operation["operationId"] == "echo_v1_echo__name__get"
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/Answer"}


def _dependency() -> int:
    return 1


async def _with_dependency(request: Request, n: Annotated[int, Depends(_dependency)]) -> Response:
    return Response()


async def _with_body(request: Request, body: Annotated[dict[str, Any], Body()]) -> Response:
    return Response()


async def _with_query(request: Request, q: str) -> Response:
    return Response()


async def _without_request() -> Response:
    return Response()


async def _keyword_only(*, request: Request) -> Response:
    return Response()


async def _not_annotated(request):  # type: ignore[no-untyped-def]
    return Response()


async def _response_only(response: Response) -> Response:
    return response


async def _returns_a_dict(request: Request) -> dict[str, str]:
    return {"not": "a response"}


def _sync(request: Request) -> Response:
    return Response()


@pytest.mark.parametrize(
    "endpoint",
    [
        _with_dependency,
        _with_body,
        _with_query,
        _without_request,
        _sync,
        _keyword_only,
        _not_annotated,
        _response_only,
        _returns_a_dict,
    ],
)
def test_an_endpoint_that_needs_fastapis_handler_is_refused_when_the_route_is_made(
    endpoint: Any,
) -> None:
    with pytest.raises(TypeError, match="async def f"):
        RequestOnlyRoute("/x", endpoint, methods=["GET"])


def test_an_endpoint_with_route_level_dependencies_is_refused() -> None:
    async def endpoint(request: Request) -> Response:
        return Response()

    with pytest.raises(TypeError):
        RequestOnlyRoute("/x", endpoint, methods=["GET"], dependencies=[Depends(_dependency)])


def test_included_with_include_router_its_dependencies_still_run() -> None:
    def guard() -> None:
        raise HTTPException(403, "guarded")

    app = FastAPI()
    app.include_router(_echo_router(), dependencies=[Depends(guard)])
    assert TestClient(app).get("/v1/echo/ada").status_code == 403


class _RecordingTracer(NoOpTracer):
    def __init__(self, names: list[str]) -> None:
        self.names = names

    def start_span(self, name: str, *args: Any, **kwargs: Any) -> Span:
        self.names.append(name)
        return NonRecordingSpan(INVALID_SPAN_CONTEXT)

    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self, name: str, *args: Any, **kwargs: Any
    ) -> Iterator[Span]:
        self.names.append(name)
        yield NonRecordingSpan(INVALID_SPAN_CONTEXT)


class _RecordingProvider(trace.TracerProvider):
    def __init__(self) -> None:
        self.names: list[str] = []

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _RecordingTracer(self.names)


def test_a_request_that_fastapis_telemetry_records_gets_its_endpoint_span() -> None:
    provider = _RecordingProvider()
    client = TestClient(_app({"tracer_provider": provider}))
    assert client.get("/v1/echo/ada").json() == {"path": "/v1/echo/ada"}
    assert "fastapi.endpoint" in provider.names


def test_the_hot_routes_skip_fastapis_request_handler(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/v1/users/me and /oauth/introspect resolve no dependencies; a route
    through FastAPI's handler does (the control: /v1/sessions)."""
    solved: list[str] = []
    real = fastapi_routing.solve_dependencies  # type: ignore[attr-defined]

    async def counting(*args: Any, **kwargs: Any) -> Any:
        solved.append(kwargs["request"].url.path)
        return await real(*args, **kwargs)

    monkeypatch.setattr(fastapi_routing, "solve_dependencies", counting)
    api.signup()
    token = api.login()["access_token"]
    solved.clear()
    assert api.me(token).status_code == 200
    assert api.client.post("/oauth/introspect", data={"token": token}).status_code == 401
    assert solved == []
    assert api.get("/v1/sessions", token).status_code == 200
    assert solved == ["/v1/sessions"]
