"""`grd valider`: a file of demands checked offline against the contracts, OK or French errors per line; the profile."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contracts.demandes import DemandeCessationV1, DemandeChangementFournisseurV1
from grd_client.cli import app
from grd_client.fichier import lire_fichier
from grd_client.profil import charger_profil

CF = {
    "type": "DemandeChangementFournisseur",
    "pds": "30000000000017EC1",
    "date_effet_souhaitee": "2030-01-15",
    "choix_releve": "estimation",
    "contrat_conclu": {"reference": "CTR-1", "date_signature": "2029-12-01"},
    "telephones": ["0601020304"],
}


def ecrire(tmp_path: Path, nom: str, texte: str) -> Path:
    chemin = tmp_path / nom
    chemin.write_text(texte, encoding="utf-8")
    return chemin


def test_json_lines_each_line_ok_or_its_errors_in_french(tmp_path: Path) -> None:
    lignes = [
        json.dumps(CF),
        json.dumps({"type": "DemandeCessation", "version": 1, "payload": {"pds": "30000000000017EC1", "date_effet_souhaitee": "2030-02-01",
                                                                           "choix_releve": "estimation", "motif": "départ"}}),
        json.dumps({**CF, "telephones": [], "choix_releve": "au_pif", "couleur": "bleu", "date_effet_souhaitee": "15/01/2030"}),
        json.dumps({k: v for k, v in CF.items() if k != "contrat_conclu"} | {"pds": "123"}),
        json.dumps({**CF, "type": "DemandeInexistante"}),
        '{"type": "DemandeCessation", ',
        "",
        json.dumps({"pds": "30000000000017EC1"}),
    ]  # fmt: skip
    resultat = lire_fichier(ecrire(tmp_path, "demandes.jsonl", "\n".join(lignes)))
    assert [ligne.numero for ligne in resultat] == [1, 2, 3, 4, 5, 6, 8]
    cf, cessation, faux, incomplet, inconnu, illisible, sans_type = resultat
    assert isinstance(cf.demande, DemandeChangementFournisseurV1) and not cf.erreurs
    assert isinstance(cessation.demande, DemandeCessationV1) and cessation.pds == "30000000000017EC1"
    assert faux.demande is None
    assert sorted(faux.erreurs) == sorted(
        [
            "champ « telephones » : au moins 1 élément(s)",
            "champ « choix_releve » : valeur non permise : attendu 'autoreleve', 'estimation' or 'releve_speciale'",
            "champ « couleur » : champ inconnu pour ce type de demande",
            "champ « date_effet_souhaitee » : date invalide (attendu AAAA-MM-JJ)",
        ]
    )
    assert sorted(incomplet.erreurs) == [
        "champ « contrat_conclu » : champ obligatoire manquant",
        "champ « pds » : trop court : au moins 4 caractère(s)",
    ]
    assert inconnu.erreurs[0].startswith("type de demande inconnu « DemandeInexistante » version 1 (types connus : ")
    assert "DemandeAcceptee" not in inconnu.erreurs[0], "only demands are offered, not the platform's events"
    assert illisible.erreurs[0].startswith("ligne illisible : JSON invalide")
    assert sans_type.erreurs == ["type de demande absent (colonne ou champ « type »)"]


def test_csv_with_dotted_columns_and_json_cells(tmp_path: Path) -> None:
    texte = (
        "type,pds,date_effet_souhaitee,choix_releve,contrat_conclu.reference,contrat_conclu.date_signature,telephones,express\n"
        'DemandeChangementFournisseur,30000000000017EC1,2030-01-15,estimation,CTR-1,2029-12-01,"[""0601020304""]",true\n'
        "DemandeChangementFournisseur,30000000000017EC1,2030-01-15,estimation,,2029-12-01,0601020304,peut-etre\n"
    )
    ok, faux = lire_fichier(ecrire(tmp_path, "demandes.csv", texte))
    assert isinstance(ok.demande, DemandeChangementFournisseurV1)
    assert ok.demande.contrat_conclu.reference == "CTR-1" and ok.demande.express is True and ok.numero == 2
    assert faux.numero == 3
    assert sorted(faux.erreurs) == [
        "champ « contrat_conclu.reference » : champ obligatoire manquant",
        "champ « express » : booléen attendu (true ou false)",
        "champ « telephones » : liste attendue",
    ]


def test_cli_prints_ok_or_errors_and_exits_1_when_a_line_is_wrong(tmp_path: Path) -> None:
    runner = CliRunner()
    bon = ecrire(tmp_path, "bon.jsonl", json.dumps(CF) + "\n" + json.dumps(CF))
    resultat = runner.invoke(app, ["valider", str(bon)])
    assert resultat.exit_code == 0, resultat.output
    assert resultat.output.count(": OK DemandeChangementFournisseur") == 2 and "2 demande(s) valide(s), 0 en erreur" in resultat.output
    mauvais = ecrire(tmp_path, "mauvais.jsonl", json.dumps(CF) + "\n" + json.dumps({**CF, "pds": "1"}))
    resultat = runner.invoke(app, ["valider", str(mauvais)])
    assert resultat.exit_code == 1
    assert "ligne 2 : ERREUR DemandeChangementFournisseur" in resultat.output
    assert "champ « pds » : trop court : au moins 4 caractère(s)" in resultat.output


def test_envoyer_sends_nothing_when_a_line_is_wrong(tmp_path: Path) -> None:
    mauvais = ecrire(tmp_path, "mauvais.jsonl", json.dumps({**CF, "pds": "1"}))
    resultat = CliRunner().invoke(app, ["envoyer", str(mauvais), "--profile", str(tmp_path / "absent.toml")])
    assert resultat.exit_code == 1 and "Rien n'a été envoyé" in resultat.output


def test_profile_file_then_environment_and_todays_topics_by_default(tmp_path: Path) -> None:
    chemin = ecrire(tmp_path, "profile.toml", 'bootstrap_servers = "kafka.grd.example:9093"\nfournisseur = "LUMEN"\npassword = "p"\n')
    profil = charger_profil(chemin, environ={})
    assert (profil.username, profil.topic_demandes, profil.topic_resultats, profil.topics_flux) == (
        "LUMEN",
        "grd.fournisseurs.LUMEN.demandes.v1",
        "grd.fournisseurs.LUMEN.resultats.v1",
        ["grd.fournisseurs.LUMEN.flux.v1"],
    ), "a supplier's own topics by default"
    partage = charger_profil(chemin, environ={"GRD_CLIENT_TOPIC_DEMANDES": "grd.demandes.v1"})
    assert partage.topic_demandes == "grd.demandes.v1" and partage.topic_resultats == "grd.fournisseurs.LUMEN.resultats.v1"
    kafka = profil.kafka()
    assert kafka["security_protocol"] == "SASL_SSL" and kafka["sasl_plain_username"] == "LUMEN" and "ssl_context" in kafka
    env = {"GRD_CLIENT_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "GRD_CLIENT_TOPIC_DEMANDES": "autre.v1", "GRD_CLIENT_TOPICS_FLUX": "a, b"}
    surcharge = charger_profil(chemin, environ=env)
    assert surcharge.topic_demandes == "autre.v1" and surcharge.topics_flux == ["a", "b"] and "ssl_context" not in surcharge.kafka()
    with pytest.raises(FileNotFoundError):
        charger_profil(tmp_path / "absent.toml", environ={})
