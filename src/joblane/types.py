"""Shared type aliases."""

from __future__ import annotations

from typing import Any, TypeAlias

JSONValue: TypeAlias = Any
"""A value that JSON can carry (checked at runtime by the serializer)."""

JSONObject: TypeAlias = dict[str, Any]
"""A JSON object."""
