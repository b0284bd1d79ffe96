"""Deterministic identifiers: affaire references and event ids derived from the message that caused them."""

import hashlib
import uuid

_NAMESPACE = uuid.UUID("6f1d3c5e-9a0b-4c7d-8e2f-1a2b3c4d5e6f")
_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def event_id(cause: uuid.UUID | str, *parts: str) -> uuid.UUID:
    """Return the id of an event caused by `cause`: the same cause and parts always give the same id."""
    return uuid.uuid5(_NAMESPACE, "/".join([str(cause), *parts]))


def reference_affaire(demande_message_id: uuid.UUID | str) -> str:
    """Return the affaire reference opened by a demand, e.g. ``A2611-7KQ3M9XZ``; stable across redeliveries."""
    digest = int.from_bytes(hashlib.sha256(str(demande_message_id).encode()).digest()[:8], "big")
    chars = []
    for _ in range(8):
        digest, rem = divmod(digest, len(_ALPHABET))
        chars.append(_ALPHABET[rem])
    return "A" + "".join(chars)
