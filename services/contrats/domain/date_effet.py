"""The date d'effet policy (« la date d'effet est un attribut obligatoire »): not past, not too far, and an optional CF cap."""

from __future__ import annotations

from datetime import date, timedelta

from contracts.refus import CodeRefus, Refus
from services.contrats.domain.commun import Regles, premier


def verifier_date_non_passee(date_effet: date, jour: date) -> Refus | None:
    """DATE_EFFET_PASSEE: a change takes effect on its date d'effet, never before, so that date cannot be in the past."""
    if date_effet < jour:
        return Refus(
            CodeRefus.DATE_EFFET_PASSEE,
            f"La date d'effet {date_effet:%d/%m/%Y} est passée : indiquez une date à partir d'aujourd'hui ({jour:%d/%m/%Y}).",
        )
    return None


def verifier_delai_cf(date_effet: date, jour: date, regles: Regles) -> Refus | None:
    """DATE_EFFET_CF_HORS_DELAI: only when configured, a CF within `delai_cf_jours` (Code de la consommation L224-14).

    The product owner's reading of L224-14: it protects the customer and is no reason to refuse a later date he asked
    for, so the cap is off by default (`Regles.delai_cf_jours` is None).
    """
    if regles.delai_cf_jours is not None and date_effet > jour + timedelta(days=regles.delai_cf_jours):
        limite = jour + timedelta(days=regles.delai_cf_jours)
        return Refus(
            CodeRefus.DATE_EFFET_CF_HORS_DELAI,
            f"Un changement de fournisseur prend effet sous {regles.delai_cf_jours} jours (Code de la consommation "
            f"L224-14) : indiquez une date d'effet au plus tard le {limite:%d/%m/%Y}.",
        )
    return None


def verifier_horizon(date_effet: date, jour: date, regles: Regles) -> Refus | None:
    """DATE_EFFET_TROP_LOINTAINE: a date d'effet within the GRD's planning horizon (`Regles.horizon_jours`)."""
    if date_effet > jour + timedelta(days=regles.horizon_jours):
        limite = jour + timedelta(days=regles.horizon_jours)
        return Refus(
            CodeRefus.DATE_EFFET_TROP_LOINTAINE,
            f"La date d'effet {date_effet:%d/%m/%Y} est trop lointaine : indiquez une date au plus tard le {limite:%d/%m/%Y}.",
        )
    return None


def verifier_date_effet(date_effet: date, today: date, regles: Regles, *, cf: bool = False) -> Refus | None:
    """Date d'effet policy: not in the past, within the horizon (and, only when configured, a cap for a CF)."""
    return premier(
        verifier_date_non_passee(date_effet, today),
        verifier_delai_cf(date_effet, today, regles) if cf else None,
        verifier_horizon(date_effet, today, regles),
    )
