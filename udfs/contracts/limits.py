"""Sizes the contract allows (shared/design/domain.md's records, bounded so that no partner can
make the job's outputs too large to write: a record Kafka refuses would fail the job again
after every restart, for every partner).

A partner record is at most :data:`MAX_RECORD_BYTES` on the wire (its single-object Avro, or
its JSON line), every string field at most :data:`MAX_STRING_CHARS` characters (code points).
A dead letter keeps at most :data:`MAX_DEAD_LETTER_PAYLOAD` bytes of what was refused, and
the SHA-256 of the whole in its message. The JVM applies the same numbers (udfs/jvm
``Contract``, ``flink.DeadLetters``), read from the contract's export.
"""
MAX_RECORD_BYTES = 65_536
MAX_STRING_CHARS = 256
# A dead letter is a record too, read back with the same limit (udfs.contracts.wire.decode):
# what it keeps of a payload leaves room for its other fields (a few hundred bytes).
MAX_DEAD_LETTER_PAYLOAD = MAX_RECORD_BYTES - 4_096
