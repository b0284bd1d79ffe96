"""Deterministic identifiers: affaire references and event ids derived from the message that caused them."""

import hashlib
import uuid

_NAMESPACE = uuid.UUID("6f1d3c5e-9a0b-4c7d-8e2f-1a2b3c4d5e6f")
_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def event_id(cause: uuid.UUID | str, *parts: str) -> uuid.UUID:
    """Return the id of an event caused by `cause`: the same cause and parts always give the same id."""
    return uuid.uuid5(_NAMESPACE, "/".join([str(cause), *parts]))


def reference_affaire(demande_message_id: uuid.UUID | str, essai: int = 0) -> str:
    """Return the affaire reference opened by a demand, e.g. ``A7KQ3M9-XZ4PQR8``; stable across redeliveries.

    72 bits of a SHA-256 of the demand id (two groups of 7 characters from an alphabet without I and O, for reading
    aloud): a collision has a probability of about 1e-10 at one million affaires. The service that creates an affaire
    checks anyway that an existing one with its reference is the same demand's, and takes the next `essai` if not.
    """
    graine = str(demande_message_id) if essai == 0 else f"{demande_message_id}/{essai}"
    digest = int.from_bytes(hashlib.sha256(graine.encode()).digest()[:9], "big")
    chars = []
    for _ in range(14):
        digest, rem = divmod(digest, len(_ALPHABET))
        chars.append(_ALPHABET[rem])
    return "A" + "".join(chars[:7]) + "-" + "".join(chars[7:])
