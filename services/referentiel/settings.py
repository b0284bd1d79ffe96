"""Settings of the référentiel service (env prefix REFERENTIEL_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from platform_kit.settings import KitSettings


class Settings(KitSettings):
    """Infrastructure settings plus the référentiel's own."""

    model_config = SettingsConfigDict(env_prefix="REFERENTIEL_", extra="ignore", frozen=True)

    service_name: str = Field(default="referentiel", description="Service name, used for consumer groups and metrics.")
    http_port: int = Field(default=8001, description="HTTP port of the référentiel API.")
    recherche_max_resultats: int = Field(default=50, ge=1, le=500, description="Most PDS a search returns.")
    audit_max_resultats: int = Field(default=500, ge=1, le=5000, description="Most audit entries GET /audit returns.")
    mois_consommations: int = Field(default=12, ge=1, le=36, description="Months of rolling monthly consumption kept per PDS.")
    partitions: int = Field(
        default=64,
        ge=1,
        le=999,
        description="Collections the PDS and the address index are spread over (seed and service must agree).",
    )
