"""The interactive API docs served from this server, not from a CDN.

Kelurahan offices and island field teams may run Sigap on a link that reaches the server
but not the internet; FastAPI's default /docs page loads Swagger UI from a CDN and would be
blank there.  The assets come from the swagger-ui-bundle-v2 package (Swagger UI 5, which
renders OpenAPI 3.1).
"""

from __future__ import annotations

import json
from typing import Any

import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/static/swagger-ui"


_VALIDATION = {
    "description": "Validation error: every broken rule as {field, rule, message}",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
}


def _errors_as_json(status: str, response: dict[str, Any]) -> None:
    """An error is always sent as JSON (app/errors.py), also by a route whose own answer is
    plain text (the SMS gateways): FastAPI documents a route's error models under the route's
    media type, so they are moved to application/json."""
    content = response.get("content", {})
    if status[:1] in ("4", "5") and "application/json" not in content:
        for media_type, body in list(content.items()):
            if body.get("schema", {}).get("$ref", "").endswith("/ErrorBody"):
                content["application/json"] = content.pop(media_type)


def install_openapi(app: FastAPI) -> None:
    """The document FastAPI generates, with the 422 every validated route can answer described
    as what Sigap really sends (``ErrorBody``: ``{"error": "validation_error", "detail":
    [{field, rule, message}]}``, app/errors.py), not FastAPI's default body."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                responses = operation.get("responses", {})
                if "422" in responses:
                    responses["422"] = _VALIDATION
                for status, response in responses.items():
                    _errors_as_json(status, response)
        components = schema.get("components", {}).get("schemas", {})
        text = json.dumps(schema["paths"])
        for name in ("HTTPValidationError", "ValidationError"):
            if f"#/components/schemas/{name}" not in text and name in components:
                del components[name]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_docs(app: FastAPI) -> None:
    app.mount(ASSETS, StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger-ui")
    redirect_url = "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - docs",
            oauth2_redirect_url=redirect_url,
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png")

    @app.get(redirect_url, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
