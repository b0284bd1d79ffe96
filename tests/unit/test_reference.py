"""The GRD's reference data is configuration: the shipped file loads, an invalid one is refused clearly, GRD_REFERENCE_FILE is honoured."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform_kit.reference import FICHIER_LIVRE, VARIABLE, ReferenceDataError, load_reference, main, reference

UN_GRD = """
grd_email = "acheminement@un-grd.example"
zones = ["NORD", "SUD"]
re_independants = ["RE_LIBRE_C1", "RE_LIBRE_C2"]

[[fournisseurs]]
code = "NOVA"
nom = "Nova Énergie"
email = "flux@nova.example"
re_c1 = "RE_NOVA_C1"
re_c2 = "RE_NOVA_C2"
"""
NOVA = UN_GRD.split("[[fournisseurs]]")[1]


def _fichier(tmp_path: Path, texte: str, nom: str = "reference.toml") -> Path:
    path = tmp_path / nom
    path.write_text(texte, encoding="utf-8")
    return path


def test_the_shipped_file_loads_with_the_demo_grds_suppliers_and_res() -> None:
    ref = load_reference(FICHIER_LIVRE)
    assert [f.code for f in ref.fournisseurs] == ["ELEC_AZUR", "VOLTA", "LUMEN", "WATTPLUS"]
    volta = ref.fournisseur("VOLTA")
    assert volta is not None and (volta.email, volta.re_c1, volta.re_c2) == ("operations@volta.example", "RE_VOLTA_C1", "RE_VOLTA_C2")
    assert ref.fournisseur("INCONNU") is None
    assert ref.grd_email == "equipe-acheminement@grd.example"
    assert ref.zones == ("Z01", "Z02", "Z03", "Z04", "Z05")
    segments = ref.res_par_segment()
    assert "RE_NORDEQUILIBRE_C1" in segments["C1"] and "RE_SUDBALANCE_C2" in segments["C2"]
    assert all(r.endswith("C1") for r in segments["C1"]) and all(r.endswith("C2") for r in segments["C2"])
    assert set(ref.tous_les_re()) == set(segments["C1"]) | set(segments["C2"])
    assert ref.re_par_defaut()["LUMEN"] == ("RE_LUMEN_C1", "RE_LUMEN_C2")


def test_another_grds_file_gives_its_own_data(tmp_path: Path) -> None:
    ref = load_reference(_fichier(tmp_path, UN_GRD))
    assert [f.code for f in ref.fournisseurs] == ["NOVA"]
    assert ref.tous_les_re() == ("RE_NOVA_C1", "RE_NOVA_C2", "RE_LIBRE_C1", "RE_LIBRE_C2")
    assert ref.res_par_segment() == {"C1": ("RE_NOVA_C1", "RE_LIBRE_C1"), "C2": ("RE_NOVA_C2", "RE_LIBRE_C2")}
    assert ref.zones == ("NORD", "SUD") and ref.grd_email == "acheminement@un-grd.example"


def test_grd_reference_file_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _fichier(tmp_path, UN_GRD)
    monkeypatch.setenv(VARIABLE, str(path))
    assert [f.code for f in reference().fournisseurs] == ["NOVA"]
    monkeypatch.setenv(VARIABLE, "")
    assert reference().fournisseur("VOLTA") is not None
    monkeypatch.delenv(VARIABLE)
    assert reference().fournisseur("VOLTA") is not None


@pytest.mark.parametrize(
    ("remplace", "par", "attendu"),
    [
        ('email = "flux@nova.example"', 'email = "flux-nova"', "fournisseurs[0].email: 'flux-nova' is not an e-mail address"),
        ('re_c1 = "RE_NOVA_C1"', 're_c1 = "RE_NOVA_C2"', "fournisseurs[0].re_c1: 'RE_NOVA_C2' must end in C1"),
        ('re_c2 = "RE_NOVA_C2"', 'rec2 = "RE_NOVA_C2"', "fournisseurs[0].re_c2: Field required"),
        ('re_c2 = "RE_NOVA_C2"', 're_c2 = "RE_NOVA_C2"\nrc = 1', "fournisseurs[0].rc: Extra inputs are not permitted"),
        ('code = "NOVA"', 'code = "nova"', "fournisseurs[0].code: 'nova' is not a supplier code"),
        ('"RE_LIBRE_C2"]', '"RE_LIBRE_C3"]', "re_independants[1]: 'RE_LIBRE_C3' must end in C1 or C2"),
        ('zones = ["NORD", "SUD"]', "zones = []", "zones: Tuple should have at least 1 item"),
        ('zones = ["NORD", "SUD"]', 'zones = ["NORD", "NORD"]', "zones: zone NORD given more than once"),
        ("[[fournisseurs]]", "[[fournisseurs]]" + NOVA + "[[fournisseurs]]", "fournisseurs: supplier code NOVA given more than once"),
    ],
)
def test_an_invalid_file_is_refused_naming_the_file_and_the_wrong_entry(tmp_path: Path, remplace: str, par: str, attendu: str) -> None:
    assert remplace in UN_GRD
    path = _fichier(tmp_path, UN_GRD.replace(remplace, par, 1))
    with pytest.raises(ReferenceDataError) as erreur:
        load_reference(path)
    assert str(path) in str(erreur.value) and "is invalid" in str(erreur.value)
    assert attendu in str(erreur.value)


def test_a_missing_or_malformed_file_is_refused_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absent = tmp_path / "absent.toml"
    monkeypatch.setenv(VARIABLE, str(absent))
    with pytest.raises(ReferenceDataError, match=rf"{absent}.*\(from {VARIABLE}\): not found"):
        reference()
    casse = _fichier(tmp_path, 'grd_email = "a@b.example"\nzones = [\n')
    with pytest.raises(ReferenceDataError, match="not valid TOML"):
        load_reference(casse)


def test_the_check_command_says_whether_a_file_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(_fichier(tmp_path, UN_GRD))]) == 0
    assert "valid — 1 suppliers (NOVA)" in capsys.readouterr().out
    assert main(["check", str(_fichier(tmp_path, UN_GRD.replace("NOVA", "nova"), "faux.toml"))]) == 1
    assert "faux.toml is invalid" in capsys.readouterr().err
