"""Settings of the supervision service (variables prefixed SUPERVISION_, infrastructure ones unprefixed)."""

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from platform_kit.settings import KitSettings

SERVICES_PAR_DEFAUT = (
    "referentiel=http://127.0.0.1:8001,contrats=http://127.0.0.1:8002,affaires=http://127.0.0.1:8003,"
    "planification=http://127.0.0.1:8004,notifications=http://127.0.0.1:8005,passerelle=http://127.0.0.1:8007"
)


class Settings(KitSettings):
    """Configuration of the supervision service, built once at start."""

    model_config = SettingsConfigDict(env_prefix="SUPERVISION_", extra="ignore", frozen=True, populate_by_name=True)

    service_name: str = Field(default="supervision", description="Service name, used for consumer groups and metrics.")
    http_port: int = Field(default=8006, description="HTTP port of the supervision page and API.")
    services: str = Field(
        default=SERVICES_PAR_DEFAUT,
        description="Services watched: `name=base URL,...` (their /health and /metrics are polled).",
    )
    smtp_host: str = Field(
        default="127.0.0.1", validation_alias=AliasChoices("smtp_host", "SMTP_HOST"), description="SMTP relay host (probed by a NOOP)."
    )
    smtp_port: int = Field(default=1025, validation_alias=AliasChoices("smtp_port", "SMTP_PORT"), description="SMTP relay port.")
    sonde_intervalle_s: float = Field(default=5.0, gt=0, description="How often health, /metrics and consumer offsets are polled.")
    tap_fetch_min_bytes: int = Field(
        default=65_536,
        ge=1,
        description="Bytes a tap's fetch waits for before the broker answers (or `tap_fetch_max_wait_ms`, whichever first).",
    )
    tap_fetch_max_wait_ms: int = Field(
        default=250,
        ge=1,
        le=10_000,
        description="Longest a tap's fetch waits for `tap_fetch_min_bytes`: a figure shows up at most this much later, "
        "and the taps do not wake on every record.",
    )
    rafraichissement_s: float = Field(default=5.0, gt=0, description="How often the page refreshes itself.")
    fenetre_minutes: int = Field(default=60, ge=1, le=1440, description="Minutes of flow shown (per-minute counts, percentiles).")
    retention_heures: float = Field(default=24.0, gt=0, description="Hours of flow counts and demand timestamps kept.")
    delai_cf_jours: int = Field(default=21, ge=1, description="A changement de fournisseur still open this many days after its demand is late.")
    delai_intervention_heures: int = Field(
        default=48, ge=1, description="An affaire waiting this long for its intervention or tele-operation answer is late."
    )
    delai_etude_jours: int = Field(default=30, ge=1, description="An affaire waiting this many days for its technical study is late.")
    delai_affaire_jours: int = Field(default=60, ge=1, description="Any other affaire open this many days is late.")
