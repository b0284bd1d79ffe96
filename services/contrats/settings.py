"""Settings of the contrats service (env prefix CONTRATS_)."""

from datetime import date

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from platform_kit.settings import KitSettings

DUREES_PAR_DEFAUT = {
    "mise_en_service": 60,
    "changement_fournisseur": 30,
    "modification": 45,
    "cessation": 30,
}


class Settings(KitSettings):
    """Infrastructure settings plus the contract processes' policy."""

    model_config = SettingsConfigDict(env_prefix="CONTRATS_", extra="ignore", frozen=True)

    service_name: str = Field(default="contrats", description="Service name, used for consumer groups and metrics.")
    http_port: int = Field(default=8002, description="HTTP port.")
    partitions: int = Field(
        default=64,
        ge=1,
        description="Collections the PDS aggregates are spread over (seed and service must agree).",
    )
    horizon_date_effet_jours: int = Field(
        default=365, ge=1, description="Latest accepted date d'effet, in days from today (DATE_EFFET_TROP_LOINTAINE beyond)."
    )
    delai_cf_jours: int | None = Field(
        default=None,
        ge=0,
        description=(
            "Optional cap on a CF's date d'effet, in days (DATE_EFFET_CF_HORS_DELAI beyond). Off by default: L224-14 "
            "protects the customer and does not forbid a later date he asks for."
        ),
    )
    durees_intervention_minutes: dict[str, int] = Field(
        default_factory=lambda: dict(DUREES_PAR_DEFAUT),
        description="Planned duration of an on-site intervention per operation (JSON object: operation -> minutes).",
    )
    echeance_intervalle_s: float = Field(
        default=5.0, gt=0, description="How often the scheduler applies changes without intervention whose date d'effet has come."
    )
    date_du_jour: date | None = Field(default=None, description="Fixed 'today' for demos and tests; empty means the real current date.")
