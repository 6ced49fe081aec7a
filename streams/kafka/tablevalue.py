"""The base of every Faust table value: JSON with a ``schema_version``, so an old changelog is migrated, not refused."""

from __future__ import annotations

from typing import Any, ClassVar, Self

import orjson
from pydantic import BaseModel, ConfigDict

from schemas.records import json_object, validated
from streams.errors import DecodeError


class TableValue(BaseModel):
    """A value of a Faust table, written as JSON bytes by the pure code that owns it.

    Each value carries the ``schema_version`` it was written with. A changelog outlives the code that wrote it,
    so when a value's shape changes, the subclass raises :attr:`VERSION` and implements :meth:`migrate` for the
    step from the previous version: old values are read through it instead of failing. Values written before
    versioning have no ``schema_version`` and read as version 1.
    """

    model_config = ConfigDict(extra="ignore")

    #: the version this build writes
    VERSION: ClassVar[int] = 1

    schema_version: int = 1

    def dumps(self) -> bytes:
        data = self.model_dump(mode="json", exclude_defaults=True)
        data["schema_version"] = self.VERSION
        return orjson.dumps(data)

    @classmethod
    def loads(cls, data: bytes) -> Self:
        """Decode a stored value, migrating older versions; raises :class:`~streams.errors.DecodeError`."""
        obj = json_object(cls.__name__, data)
        version = obj.get("schema_version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1 or version > cls.VERSION:
            raise DecodeError(f"{cls.__name__}: unsupported schema_version {version!r} (this build reads 1 to {cls.VERSION})")
        while version < cls.VERSION:
            obj = cls.migrate(obj, version)
            version += 1
        return validated(cls, obj)

    @classmethod
    def migrate(cls, obj: dict[str, Any], version: int) -> dict[str, Any]:
        """The value of ``version`` turned into one of ``version + 1`` (a subclass that raises VERSION implements it)."""
        raise DecodeError(f"{cls.__name__}: no migration from schema_version {version}")
