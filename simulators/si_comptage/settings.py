"""Settings of the meter head-end simulator (env prefix SI_COMPTAGE_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from platform_kit.settings import KitSettings
from simulators.si_comptage.domain import Regles


class Settings(KitSettings):
    """Infrastructure settings plus the failure and loss rules."""

    model_config = SettingsConfigDict(env_prefix="SI_COMPTAGE_", extra="ignore", frozen=True)

    service_name: str = Field(default="si_comptage", description="Service name, used for consumer groups and metrics.")
    http_port: int = Field(default=8009, description="HTTP port.")
    pds_en_echec: tuple[str, ...] = Field(
        default=(), description='PDS whose tele-operations always fail (meter unreachable), JSON list: ["300...017EC1"].'
    )
    echec_modulo: int = Field(default=0, ge=0, description="Also fail when the PDS number is a multiple of this (0 = no rule-based failure).")
    taux_echec: float = Field(default=0.0, ge=0, le=1, description="Share of tele-operations answered with a failure (drawn per command and seed).")
    taux_perte: float = Field(default=0.0, ge=0, le=1, description="Share of tele-operations never answered (lost), drawn like taux_echec.")
    graine: int = Field(default=0, description="Seed of the failure and loss draws (the same seed and command always draw the same).")
    kwh_par_jour: int = Field(default=9, ge=0, description="Daily consumption added per cadran while the meter is supplied.")

    def regles(self) -> Regles:
        """The simulator's behaviour rules."""
        return Regles(
            pds_en_echec=frozenset(self.pds_en_echec),
            echec_modulo=self.echec_modulo,
            taux_echec=self.taux_echec,
            taux_perte=self.taux_perte,
            graine=self.graine,
            kwh_par_jour=self.kwh_par_jour,
        )
