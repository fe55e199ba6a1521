"""Published schemas are frozen: the SHA-256 of every .avsc file is locked in
avro_schemas/published.lock. An edit in place (a default, a doc, a logical type: none of them
changes the fingerprint) fails here; a change of meaning is a new version file and a new line."""
import hashlib
import pathlib

SCHEMAS = pathlib.Path(__file__).resolve().parents[2] / "avro_schemas"


def locked() -> dict[str, str]:
    out = {}
    for line in (SCHEMAS / "published.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, path = line.split()
            out[path] = digest
    return out


def test_every_schema_file_is_locked_and_unchanged():
    files = {p.relative_to(SCHEMAS).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(SCHEMAS.rglob("*.avsc"))}
    lock = locked()
    assert sorted(set(files) - set(lock)) == [], "new schema files: add their lines to published.lock"
    assert sorted(set(lock) - set(files)) == [], "a published schema file was removed"
    changed = sorted(path for path, digest in files.items() if lock[path] != digest)
    assert changed == [], f"published schemas edited in place (make a new version instead): {changed}"


def test_the_lock_sees_edits_that_keep_the_fingerprint():
    """A changed doc and a changed default leave the fingerprint as it was (so readers could
    disagree unnoticed); the lock's digest tells them apart."""
    import json

    import fastavro

    from udfs.contracts.fingerprint import crc64_avro, header_bytes
    from udfs.contracts.schemas import default_registry

    def fingerprint(schema: dict) -> bytes:
        return header_bytes(crc64_avro(fastavro.schema.to_parsing_canonical_form(
            fastavro.parse_schema(schema)).encode()))

    version = default_registry().latest("DeliveryTask")
    schema = json.loads(version.path.read_text())
    assert fingerprint(schema) == version.fingerprint
    schema["doc"] = "Edited in place."
    with_default = [f for f in schema["fields"] if "default" in f]
    assert with_default
    with_default[0]["default"] = None if with_default[0]["default"] is not None else with_default[0]["default"]
    edited = json.dumps(schema, indent=2)
    assert fingerprint(json.loads(edited)) == version.fingerprint  # nothing on the wire tells the edit
    digest = hashlib.sha256(edited.encode()).hexdigest()
    assert digest != locked()[version.path.relative_to(SCHEMAS).as_posix()]  # the lock does
