"""CRC-64-AVRO (Rabin) fingerprints, as the Avro specification defines them."""
from __future__ import annotations

EMPTY = 0xC15D213AA4D7A795


def _table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (EMPTY & -(fp & 1))
        table.append(fp)
    return table


_TABLE = _table()


def crc64_avro(data: bytes) -> int:
    """The 64-bit Rabin fingerprint of ``data`` (the schema's parsing canonical form)."""
    fp = EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


def header_bytes(fingerprint: int) -> bytes:
    """The 8 bytes that follow 0xC3 0x01 in single-object encoding (little-endian)."""
    return fingerprint.to_bytes(8, "little")
