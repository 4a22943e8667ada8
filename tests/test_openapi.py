"""openapi/openapi.json is generated from the app; this fails when it drifts."""

from __future__ import annotations

import json

from app.cli import OPENAPI_PATH, render_openapi
from app.main import create_app
from tests.conftest import settings_for


def _current() -> str:
    return render_openapi(create_app(settings_for("sqlite://")))


class TestOpenApiFile:
    def test_file_matches_the_app(self) -> None:
        assert OPENAPI_PATH.read_text(encoding="utf-8") == _current(), (
            "openapi/openapi.json is out of date: run `sigap openapi` (or `make openapi`)")

    def test_every_operation_documents_its_errors(self) -> None:
        spec = json.loads(_current())
        for path, methods in spec["paths"].items():
            for method, op in methods.items():
                if path in ("/health", "/ready"):
                    continue
                codes = set(op["responses"])
                if path.startswith("/channels/"):  # gateways: a secret or signature, else 403
                    assert "403" in codes, (method, path)
                else:
                    assert "401" in codes or path == "/auth/token", (method, path)
                assert codes - {"200", "201", "204"}, (method, path)

    def test_error_schema_is_published(self) -> None:
        spec = json.loads(_current())
        assert {"error", "detail"} <= set(spec["components"]["schemas"]["ErrorBody"]["properties"])

    def test_every_integer_id_in_a_url_is_bounded(self) -> None:
        """Ids and versions reach the database: each has a maximum (app.db.ID_MAX), so a huge
        one is a 422 naming it, not a driver overflow. Page sizes are capped in Python."""
        spec = json.loads(_current())
        unbounded = []
        for path, methods in spec["paths"].items():
            for method, op in methods.items():
                for p in op.get("parameters", []):
                    schema = p["schema"]
                    kinds = [schema, *schema.get("anyOf", [])]
                    if p["name"] == "limit" or not any(k.get("type") == "integer" for k in kinds):
                        continue
                    if not any("maximum" in k for k in kinds):
                        unbounded.append(f"{method.upper()} {path} {p['name']}")
        assert not unbounded, unbounded
