"""Settings of the meter head-end simulator (env prefix SI_COMPTAGE_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from platform_kit.settings import KitSettings


class Settings(KitSettings):
    """Infrastructure settings plus the failure rule."""

    model_config = SettingsConfigDict(env_prefix="SI_COMPTAGE_", extra="ignore", frozen=True)

    service_name: str = Field(default="si_comptage", description="Service name, used for consumer groups and metrics.")
    http_port: int = Field(default=8009, description="HTTP port.")
    pds_en_echec: tuple[str, ...] = Field(
        default=(), description='PDS whose tele-operations always fail (meter unreachable), JSON list: ["300...017EC1"].'
    )
    echec_modulo: int = Field(default=0, ge=0, description="Also fail when the PDS number is a multiple of this (0 = no rule-based failure).")
    kwh_par_jour: int = Field(default=9, ge=0, description="Daily consumption added per cadran to build the real index.")
