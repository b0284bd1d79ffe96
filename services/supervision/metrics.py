"""Metrics the supervision adds to its /metrics: outcome latency, reachability of every part, open dead letters, group lag."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, Histogram


class SupervisionMetrics:
    """The supervision's own metric families, in the runtime's registry (served by the kit's /metrics)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.latence = Histogram(
            "grd_outcome_latency_seconds",
            "Time from a demand's publication (its envelope's occurred_at) to its outcome (DemandeAcceptee/Refusee).",
            registry=registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
        )
        self.cible = Gauge(
            "grd_supervision_target_up",
            "1 when the part answers its probe (a service's /health 200, Kafka metadata, store ping, SMTP NOOP), else 0.",
            ["target"],
            registry=registry,
        )
        self.lettres = Gauge("grd_dead_letters_open", "Dead letters neither redriven nor discarded.", registry=registry)
        self.lag = Gauge(
            "grd_group_lag",
            "Records not yet committed per consumer group and partition (end offset minus committed offset, Kafka admin API).",
            ["group", "topic", "partition"],
            registry=registry,
        )
        self.ouvertes = Gauge("grd_affaires_open", "Open affaires by type (supervision read model).", ["type_affaire"], registry=registry)
        self.retards = Gauge("grd_affaires_late", "Open affaires past their deadline, by type.", ["type_affaire"], registry=registry)
