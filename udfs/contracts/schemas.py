"""Every version of every schema in ``avro_schemas/``, looked up by name or fingerprint.

Layout: ``avro_schemas/<RecordName>/v<N>.avsc``, one named type per file; the
highest N is the current version, which readers resolve every older one to.
Schemas are loaded from the files, never pasted into code.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import json
import pathlib
import re

import fastavro

from udfs.contracts.fingerprint import crc64_avro, header_bytes

#: The only place schemas live (the repository's avro_schemas/).
AVRO_SCHEMAS_DIR = pathlib.Path(__file__).resolve().parents[2] / "avro_schemas"

_VERSION_FILE = re.compile(r"^v(\d+)\.avsc$")


@dataclasses.dataclass(frozen=True)
class SchemaVersion:
    name: str
    version: int
    path: pathlib.Path
    schema: dict = dataclasses.field(repr=False)  # the file's JSON, with logical types and docs
    fingerprint: bytes  # 8 bytes, as in the single-object header

    @functools.cached_property
    def parsed(self):
        """fastavro's parsed form without logical types: timestamps stay epoch-ms ints, UUIDs strings.

        Logical types do not change the binary encoding, the fingerprint or schema
        resolution; dropping them avoids a datetime round trip per field.
        """
        return fastavro.parse_schema(_strip_logical_types(copy.deepcopy(self.schema)), _write_hint=False)

    @functools.cached_property
    def int_fields(self) -> tuple[str, ...]:
        """The fields whose type is Avro ``int`` (or a union with it)."""
        return tuple(f["name"] for f in self.fields
                     if "int" in (f["type"] if isinstance(f["type"], list) else [f["type"]]))

    @functools.cached_property
    def named_schemas(self) -> dict:
        """Named types of :attr:`parsed`, as fastavro's low-level writer wants them."""
        named: dict = {}
        fastavro.parse_schema(self.parsed, named, _write_hint=False)
        return named

    @property
    def fields(self) -> list[dict]:
        return self.schema["fields"]

    def timestamp_fields(self) -> list[str]:
        return [f["name"] for f in self.fields if _logical_type(f["type"]) == "timestamp-millis"]


class SchemaRegistry:
    """All schema versions found in a folder (default ``avro_schemas/``)."""

    def __init__(self, folder: pathlib.Path = AVRO_SCHEMAS_DIR):
        self.folder = folder
        self._by_name: dict[str, list[SchemaVersion]] = {}
        self._by_fingerprint: dict[bytes, SchemaVersion] = {}
        for directory in sorted(p for p in folder.iterdir() if p.is_dir()):
            for path in sorted(directory.glob("*.avsc")):
                match = _VERSION_FILE.match(path.name)
                if not match:
                    raise ValueError(f"schema files are named v<N>.avsc: {path}")
                schema = json.loads(path.read_text(encoding="utf-8"))
                if schema.get("name") != directory.name:
                    raise ValueError(f"{path} defines {schema.get('name')!r}, expected {directory.name!r}")
                canonical = fastavro.schema.to_parsing_canonical_form(fastavro.parse_schema(schema))
                version = SchemaVersion(directory.name, int(match.group(1)), path, schema,
                                        header_bytes(crc64_avro(canonical.encode())))
                if version.fingerprint in self._by_fingerprint:
                    raise ValueError(f"{path} is identical to {self._by_fingerprint[version.fingerprint].path}")
                self._by_fingerprint[version.fingerprint] = version
                self._by_name.setdefault(directory.name, []).append(version)
        for versions in self._by_name.values():
            versions.sort(key=lambda v: v.version)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def versions(self, name: str) -> list[SchemaVersion]:
        return list(self._by_name[name])

    def latest(self, name: str) -> SchemaVersion:
        return self._by_name[name][-1]

    def get(self, name: str, version: int) -> SchemaVersion:
        for candidate in self._by_name[name]:
            if candidate.version == version:
                return candidate
        raise KeyError(f"{name} v{version}")

    def by_fingerprint(self, fingerprint: bytes) -> SchemaVersion | None:
        return self._by_fingerprint.get(bytes(fingerprint))


@functools.cache
def default_registry() -> SchemaRegistry:
    return SchemaRegistry()


def _logical_type(avro_type) -> str | None:
    if isinstance(avro_type, dict):
        return avro_type.get("logicalType")
    if isinstance(avro_type, list):
        for branch in avro_type:
            found = _logical_type(branch)
            if found:
                return found
    return None


def _strip_logical_types(node):
    if isinstance(node, dict):
        node.pop("logicalType", None)
        for value in node.values():
            _strip_logical_types(value)
    elif isinstance(node, list):
        for value in node:
            _strip_logical_types(value)
    return node
