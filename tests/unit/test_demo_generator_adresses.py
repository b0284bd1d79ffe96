"""The demo generator's addresses: few points per address at any count, the first 25,200 points as before."""

from collections import Counter

from demo_data.generator import BLOC_ADRESSES, COMMUNES, generate


def _cle(i: int) -> tuple[str, str, str, str]:
    a = generate(i).adresse
    return a["numero"], a["voie"], a["code_postal"], a["commune"]


def test_an_address_holds_at_most_three_points_across_blocks() -> None:
    # Two full blocks and the start of a third: the house numbers of a new block are its own.
    par_adresse = Counter(_cle(i) for i in range(1, 2 * BLOC_ADRESSES + 500))
    assert max(par_adresse.values()) == 3
    assert not {_cle(i) for i in range(1, BLOC_ADRESSES)} & {_cle(i) for i in range(BLOC_ADRESSES, 2 * BLOC_ADRESSES)}


def test_the_first_block_keeps_its_addresses() -> None:
    # Points 1-25,199 (the demo, the tests) have the numbers they always had.
    for i in (1, 7, 8399, 8400, 16_801, BLOC_ADRESSES - 1):
        assert generate(i).adresse["numero"] == str(1 + (i // len(COMMUNES)) % 150)
