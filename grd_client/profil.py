"""The client's configuration: bootstrap servers, SCRAM credentials and topic names, from a TOML profile and the environment.

Precedence: environment (`GRD_CLIENT_*`) over the profile file (`--profile`, else `~/.config/grd/profile.toml`) over
defaults. The topic names default to the supplier's own topics (`topics_par_defaut`).
"""

from __future__ import annotations

import os
import ssl
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts import topics as t

PROFIL_PAR_DEFAUT = Path("~/.config/grd/profile.toml")
ENV_PREFIXE = "GRD_CLIENT_"


def topics_par_defaut(fournisseur: str) -> dict[str, Any]:
    """The topics a supplier writes and reads when its profile names none: its own (the platform's ACLs allow no other).

    The shared topics of before (`grd.demandes.v1` in, `grd.demandes.resultats.v1` out) stay reachable by naming
    them in the profile; this function is the one place that picks the defaults.
    """
    return {
        "topic_demandes": t.fournisseur_demandes(fournisseur).name,
        "topic_resultats": t.fournisseur_resultats(fournisseur).name,
        "topics_flux": [t.fournisseur_flux(fournisseur).name],
    }


class Profil(BaseModel):
    """Where and as whom the client talks to the platform's Kafka."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bootstrap_servers: str = Field(description="Kafka bootstrap servers given by the GRD, e.g. kafka.grd.example:9093.")
    fournisseur: str = Field(min_length=1, max_length=32, description="Your supplier code (the envelope's `fournisseur`).")
    security_protocol: str = Field(default="SASL_SSL", description="SASL_SSL (production), SASL_PLAINTEXT (local stack) or PLAINTEXT.")
    sasl_mechanism: str = Field(default="SCRAM-SHA-512", description="SCRAM-SHA-512 or SCRAM-SHA-256.")
    username: str = Field(default="", description="SCRAM user (defaults to the supplier code).")
    password: str = Field(default="", description="SCRAM password.")
    ssl_cafile: str = Field(default="", description="CA bundle for SASL_SSL (empty: the system's).")
    topic_demandes: str = Field(default="", description="Topic your demands are written to.")
    topic_resultats: str = Field(default="", description="Topic your outcomes come on.")
    topics_flux: list[str] = Field(default_factory=list, description="Flux topics `grd suivre` follows besides the outcomes.")

    @model_validator(mode="before")
    @classmethod
    def _defauts(cls, data: Any) -> Any:
        """Fill the user and the topics from the supplier code when the profile leaves them out."""
        if isinstance(data, dict) and data.get("fournisseur"):
            code = str(data["fournisseur"])
            donnees = {k: v for k, v in data.items() if v not in ("", None, [])}
            return {**topics_par_defaut(code), "username": code, **donnees}
        return data

    def kafka(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer and consumer."""
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap_servers}
        protocole = self.security_protocol.upper()
        if protocole == "PLAINTEXT":
            return options
        options.update(
            security_protocol=protocole,
            sasl_mechanism=self.sasl_mechanism,
            sasl_plain_username=self.username,
            sasl_plain_password=self.password,
        )
        if protocole == "SASL_SSL":
            options["ssl_context"] = ssl.create_default_context(cafile=self.ssl_cafile or None)
        return options


def charger_profil(chemin: Path | None = None, environ: Mapping[str, str] | None = None) -> Profil:
    """The profile from the file (if any) and the environment; a missing explicit file is an error."""
    env = os.environ if environ is None else environ
    valeurs: dict[str, Any] = {}
    fichier = chemin or Path(env.get(f"{ENV_PREFIXE}PROFILE", "") or PROFIL_PAR_DEFAUT).expanduser()
    if fichier.exists():
        valeurs.update(tomllib.loads(fichier.read_text()))
    elif chemin is not None:
        raise FileNotFoundError(f"profil introuvable : {chemin}")
    for champ in Profil.model_fields:
        brut = env.get(f"{ENV_PREFIXE}{champ.upper()}")
        if brut is not None:
            valeurs[champ] = [s.strip() for s in brut.split(",") if s.strip()] if champ == "topics_flux" else brut
    return Profil.model_validate(valeurs)
