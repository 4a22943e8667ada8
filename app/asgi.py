"""ASGI entry point for uvicorn workers: ``uvicorn app.asgi:app``."""

from app.config import get_settings
from app.main import create_app
from app.ops.logging import configure_logging

_settings = get_settings()
configure_logging(_settings.log_level, json_format=_settings.log_json)
app = create_app(_settings)
