"""Settings of the notifications service (NOTIFICATIONS_ prefix; SMTP_HOST/SMTP_PORT unprefixed like the other infrastructure)."""

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from platform_kit.reference import reference
from platform_kit.settings import KitSettings


class Settings(KitSettings):
    """Configuration of the notifications service, built once at start."""

    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_", extra="ignore", frozen=True, populate_by_name=True)

    service_name: str = Field(default="notifications", description="Service name, used for consumer groups and metrics.")
    http_port: int = Field(default=8005, description="HTTP port.")
    partitions: int = Field(default=32, ge=1, description="Collections the e-mail records and affaire follow-ups are spread over.")
    smtp_host: str = Field(
        default="127.0.0.1",
        validation_alias=AliasChoices("smtp_host", "SMTP_HOST"),
        description="SMTP relay host (the local sink in development, the GRD's relay in production).",
    )
    smtp_port: int = Field(
        default=1025,
        validation_alias=AliasChoices("smtp_port", "SMTP_PORT"),
        description="SMTP relay port.",
    )
    smtp_user: str | None = Field(default=None, description="SMTP login, when the relay requires authentication.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password, when the relay requires authentication.")
    smtp_starttls: bool = Field(default=False, description="Upgrade the SMTP connection with STARTTLS (production relay).")
    smtp_timeout_s: float = Field(default=10.0, gt=0, description="Timeout of one SMTP exchange before it counts as a transient failure.")
    smtp_connexions: int = Field(
        default=3, ge=1, description="SMTP connections kept open to the relay (e-mails of different partitions are sent in parallel)."
    )
    expediteur: str = Field(
        default="Portail fournisseurs GRD <portail-fournisseurs@grd.example>",
        description="From address of every e-mail.",
    )
    adresse_equipe_grd: str = Field(default_factory=lambda: reference().grd_email, description="Address of the GRD team (express demands).")
    transient_budget_s: float = Field(
        default=3600.0,
        gt=0,
        description="How long an e-mail is retried while the SMTP relay is unreachable before it is dead-lettered.",
    )
