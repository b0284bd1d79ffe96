"""Settings of the planification service (env prefix PLANIFICATION_)."""

from datetime import date, time, timedelta

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from platform_kit.settings import KitSettings
from services.planification.domain import ReglesTeleoperation


class Settings(KitSettings):
    """Infrastructure settings plus the technician capacity model."""

    model_config = SettingsConfigDict(env_prefix="PLANIFICATION_", extra="ignore", frozen=True)

    service_name: str = Field(default="planification", description="Service name, used for consumer groups and metrics.")
    http_port: int = Field(default=8004, description="HTTP port.")
    places_par_demi_journee: int = Field(
        default=3, ge=0, description="Technician places of one slot (zone, day, half-day, mode) unless the zone overrides it."
    )
    places_par_zone: dict[str, int] = Field(default_factory=dict, description='Per-zone overrides of the places per slot, JSON, e.g. {"Z01": 5}.')
    jours_ouvres: tuple[int, ...] = Field(
        default=(0, 1, 2, 3, 4), description="Working days (0 = Monday ... 6 = Sunday), JSON list, e.g. [0,1,2,3,4]."
    )
    matin_debut: time = Field(default=time(8, 0), description="Start of the morning half-day (local time).")
    matin_fin: time = Field(default=time(12, 0), description="End of the morning half-day (local time).")
    apres_midi_debut: time = Field(default=time(13, 30), description="Start of the afternoon half-day (local time).")
    apres_midi_fin: time = Field(default=time(17, 30), description="End of the afternoon half-day (local time).")
    fuseau: str = Field(default="Europe/Paris", description="Time zone of the slots.")
    creneau_horaire_minutes: int = Field(
        default=120,
        ge=15,
        le=240,
        description="Length of a « sur créneau horaire » slot (customer present); présence non obligatoire keeps half-days.",
    )
    delai_minimum_jours: int = Field(default=1, ge=0, description="Earliest slot: today plus this many days.")
    horizon_jours: int = Field(default=60, ge=1, description="How far ahead (days) slots exist: search window and automatic half-day reservation.")
    jours_affiches: int = Field(default=21, ge=1, description="Days of slots shown by one slot search.")
    date_du_jour: date | None = Field(default=None, description="Fixed 'today' for demos and tests; empty means the real date.")
    to_tentatives_max: int = Field(default=3, ge=1, description="Attempts of a lost or failed tele-operation before an appointment is needed.")
    to_delai_reponse_s: float = Field(default=3600.0, gt=0, description="Clock time an attempt waits for the answer before it is sent again.")
    to_delai_nouvel_essai_s: float = Field(default=900.0, ge=0, description="Clock time between a failed attempt and the next one.")
    echeance_intervalle_s: float = Field(default=2.0, gt=0, description="How often the due job looks for tele-operations to send, resend or give up.")

    def regles_teleoperation(self) -> ReglesTeleoperation:
        """Bounded retries of tele-operations."""
        return ReglesTeleoperation(
            tentatives_max=self.to_tentatives_max,
            delai_reponse=timedelta(seconds=self.to_delai_reponse_s),
            delai_nouvel_essai=timedelta(seconds=self.to_delai_nouvel_essai_s),
        )
