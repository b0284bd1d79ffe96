"""Unit tests of the platform clock: offset, fixed day, local date, control records."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from prometheus_client import CollectorRegistry

from platform_kit.clock import Clock, lire_decalage
from platform_kit.settings import KitSettings


def horloge(instant: datetime, **kw: object) -> Clock:
    return Clock(source=lambda: instant, **kw)  # type: ignore[arg-type]


def test_today_is_the_local_date_of_now() -> None:
    # 23:30 UTC on 31 March is already 1 April in Paris (summer time).
    clock = horloge(datetime(2026, 3, 31, 23, 30, tzinfo=UTC))
    assert clock.today() == date(2026, 4, 1)


def test_moving_forward_shifts_now_and_today() -> None:
    instant = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
    registry = CollectorRegistry()
    clock = horloge(instant, registry=registry)
    clock.avancer(timedelta(days=8))
    assert clock.now() == instant + timedelta(days=8)
    assert clock.today() == date(2026, 11, 18)
    assert registry.get_sample_value("grd_horloge_decalage_secondes") == 8 * 86400
    clock.regler(timedelta(0))
    assert clock.today() == date(2026, 11, 10)


def test_fixed_day_keeps_the_time_of_day_and_follows_the_offset() -> None:
    clock = horloge(datetime(2026, 11, 10, 9, 15, tzinfo=UTC), jour_fixe=date(2026, 6, 1))
    assert clock.today() == date(2026, 6, 1)
    # The local time of day is kept: 10:15 in Paris (09:15 UTC in November) is 08:15 UTC on a June day.
    assert clock.now() == datetime(2026, 6, 1, 8, 15, tzinfo=UTC)
    clock.avancer(timedelta(days=2))
    assert clock.today() == date(2026, 6, 3)


def test_control_records_are_read_for_the_clock_of_their_name_only() -> None:
    valeur = json.dumps({"decalage_s": 3600.0}).encode()
    assert lire_decalage(b"grd", valeur, "grd") == timedelta(hours=1)
    assert lire_decalage(b"autre", valeur, "grd") is None
    assert lire_decalage(None, valeur, "grd") is None
    assert lire_decalage(b"grd", None, "grd") is None


def test_control_is_off_unless_the_setting_turns_it_on() -> None:
    assert Clock.from_settings(KitSettings()).controle is None
    controlee = Clock.from_settings(KitSettings(clock_control=True, clock_name="essai"))
    assert controlee.controle is not None and controlee.controle.nom == "essai"
