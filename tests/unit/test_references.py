"""Affaire references: stable per demand, readable, wide enough that collisions are negligible, and re-drawable."""

import math
import re
import uuid

from contracts.references import _ALPHABET, reference_affaire


def test_a_reference_is_stable_readable_and_at_least_64_bits() -> None:
    demande = uuid.uuid4()
    ref = reference_affaire(demande)
    assert ref == reference_affaire(str(demande))
    assert re.fullmatch(r"A[0-9A-HJ-NP-Z]{7}-[0-9A-HJ-NP-Z]{7}", ref)
    assert 14 * math.log2(len(_ALPHABET)) >= 64


def test_each_attempt_gives_another_reference() -> None:
    demande = uuid.uuid4()
    refs = {reference_affaire(demande, essai) for essai in range(4)}
    assert len(refs) == 4


def test_no_collision_among_many_demands() -> None:
    refs = {reference_affaire(uuid.uuid4()) for _ in range(50_000)}
    assert len(refs) == 50_000
