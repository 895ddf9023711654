"""Protected operations say so in the OpenAPI document, though the bearer
schemes are no longer FastAPI dependencies (entrypoints/http/security.py)."""

from __future__ import annotations

from fastapi.routing import APIRoute

from entrypoints.http import auth, oauth, sessions, users
from entrypoints.http.security import current_principal
from tests.e2e.conftest import Api

BEARER: list[dict[str, list[str]]] = [{"OAuth2PasswordBearer": []}, {"HTTPBearer": []}]


def _needs_principal(route: APIRoute) -> bool:
    return any(d.call is current_principal for d in route.dependant.dependencies)


def test_every_route_that_takes_the_bearer_token_declares_both_schemes(api: Api) -> None:
    openapi = api.client.get("/openapi.json").json()
    protected, public = [], []
    for module in (auth, oauth, users, sessions):
        for route in module.router.routes:
            assert isinstance(route, APIRoute)
            for method in route.methods or ():
                operation = openapi["paths"][route.path][method.lower()]
                if _needs_principal(route):
                    protected.append(route.path)
                    assert operation.get("security") == BEARER, route.path
                else:
                    public.append(route.path)
                    assert operation.get("security") != BEARER, route.path

    assert "/v1/users/me" in protected
    assert "/v1/sessions" in protected
    assert "/v1/auth/login" in public
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

    assert (
        api.client.get("/v1/users/me", headers={"Authorization": f"bearer {token}"}).status_code
        == 200
    )
    for header in (f"Basic {token}", "Bearer", "", token):
        response = api.client.get("/v1/users/me", headers={"Authorization": header})
        assert response.status_code == 401, header
