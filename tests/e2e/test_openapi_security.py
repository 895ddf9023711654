"""Protected operations say so in the OpenAPI document, though the bearer
schemes are not FastAPI dependencies (entrypoints/http/security.py): checked
against what each operation actually answers without a token."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Api

BEARER: list[dict[str, list[str]]] = [{"OAuth2PasswordBearer": []}, {"HTTPBearer": []}]
SOME_ID = "00000000-0000-4000-8000-000000000000"


def _asks_for_a_bearer_token(api: Api, method: str, path: str) -> bool:
    response = api.client.request(method, path.replace("{session_id}", SOME_ID), json={})
    challenge: str = response.headers.get("www-authenticate", "")
    return bool(response.status_code == 401 and challenge.startswith("Bearer"))


def test_exactly_the_operations_that_ask_for_a_bearer_token_declare_both_schemes(
    api: Api,
) -> None:
    openapi: dict[str, Any] = api.client.get("/openapi.json").json()
    protected = []
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            declared = operation.get("security") == BEARER
            assert declared == _asks_for_a_bearer_token(api, method, path), (method, path)
            if declared:
                protected.append(f"{method.upper()} {path}")

    assert sorted(protected) == [
        "DELETE /v1/sessions/{session_id}",
        "DELETE /v1/users/me",
        "GET /v1/sessions",
        "GET /v1/users/me",
        "POST /v1/auth/logout",
        "POST /v1/users/me/password",
    ]
    schemes = openapi["components"]["securitySchemes"]
    assert schemes["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An access token from login or refresh",
    }
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/oauth/token"


def test_a_protected_route_takes_the_bearer_scheme_case_insensitively(api: Api) -> None:
    api.signup()
    token = api.login()["access_token"]

    response = api.client.get("/v1/users/me", headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200
    for header in (f"Basic {token}", "Bearer", "", token):
        response = api.client.get("/v1/users/me", headers={"Authorization": header})
        assert response.status_code == 401, header


def test_introspection_documents_the_form_and_client_it_reads_itself(api: Api) -> None:
    # /oauth/introspect has no FastAPI dependency or body parameter (entrypoints/http/oauth.py):
    # its body and security are written by hand and must still say what it reads.
    openapi: dict[str, Any] = api.client.get("/openapi.json").json()
    operation = openapi["paths"]["/oauth/introspect"]["post"]

    body = operation["requestBody"]
    assert body["required"] is True
    [(media_type, content)] = body["content"].items()
    assert media_type == "application/x-www-form-urlencoded"
    name = content["schema"]["$ref"].removeprefix("#/components/schemas/")
    assert set(openapi["components"]["schemas"][name]["properties"]) == {
        "token",
        "token_type_hint",
        "client_id",
    }
    assert operation["security"] == [{"ClientBasic": []}]
    assert "ClientBasic" in openapi["components"]["securitySchemes"]


def test_every_operation_outside_oauth_documents_problem_errors(api: Api) -> None:
    """The app adds its routers' routes as its own (app.py), so each router
    declares the error responses: every operation documents its 4XX and 503
    answers as RFC 9457 problems."""
    openapi: dict[str, Any] = api.client.get("/openapi.json").json()
    problem = {"$ref": "#/components/schemas/Problem"}
    checked = []
    for path, operations in openapi["paths"].items():
        if path.startswith("/oauth/"):
            continue
        for method, operation in operations.items():
            for status in ("4XX", "503"):
                content = operation["responses"][status]["content"]
                assert content["application/problem+json"]["schema"] == problem, (method, path)
            assert "422" not in operation["responses"], (method, path)
            checked.append(f"{method.upper()} {path}")
    assert {"GET /v1/users/me", "POST /v1/auth/login", "GET /healthz"} <= set(checked)
