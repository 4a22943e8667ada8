"""The base of every request body, shared by all domains."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError

# NUL cannot be stored by PostgreSQL; the other C0 controls have no place in a form field
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class InputModel(BaseModel):
    """Unknown fields are errors; text has no NUL or other control characters."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        if isinstance(value, str) and _CONTROL.search(value):
            raise PydanticCustomError("no_control_characters",
                                      "text may not contain NUL or other control characters")
        return value
