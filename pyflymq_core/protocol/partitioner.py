"""Key to partition, exactly as the server picks it (32-bit FNV-1a, unsigned modulo; spec §12.2).

This is Go's ``hash/fnv.New32a`` — not Kafka's murmur2 — so keyed routing in a cluster agrees with
the partition the server will choose.
"""

from __future__ import annotations

_FNV_OFFSET_BASIS = 0x811C9DC5
_FNV_PRIME = 0x01000193


def fnv1a_32(data: bytes) -> int:
    """32-bit FNV-1a hash of ``data``."""
    h = _FNV_OFFSET_BASIS
    for byte in data:
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return h


def partition_for_key(key: bytes, partitions: int) -> int | None:
    """Partition the server will choose for ``key`` on a topic with ``partitions`` partitions.

    Returns ``None`` for an empty key on a multi-partition topic: the server then round-robins with
    a counter the client cannot see, so no prediction is possible.
    """
    if partitions <= 1:
        return 0
    if not key:
        return None
    return fnv1a_32(key) % partitions
