"""Prometheus metrics of a service: per-handler counts and latency, consumer lag, outbox backlog."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    """The metric families of one service, in a registry of its own."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.service = service
        self.messages = Counter(
            "grd_messages_total",
            "Messages handled, by handler and outcome.",
            ["service", "handler", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "grd_handler_seconds",
            "Handler latency including the store write.",
            ["service", "handler"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.lag = Gauge(
            "grd_consumer_lag",
            "Messages not yet consumed, per consumer group and partition.",
            ["service", "group", "topic", "partition"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "grd_dead_letters_total", "Messages sent to the dead-letter topic.", ["service", "reason"], registry=self.registry
        )
        self.retries = Counter("grd_retries_total", "Handler retries.", ["service", "kind"], registry=self.registry)
        self.published = Counter("grd_outbox_published_total", "Events published from the outbox.", ["service"], registry=self.registry)
        self.lane_records = Counter(
            "grd_lane_records_total",
            "Records a partition lane finished (handled, refused or dead-lettered): its progress.",
            ["service", "group", "topic", "partition"],
            registry=self.registry,
        )
        self.lane_stalled = Gauge(
            "grd_lane_stalled",
            "1 when a partition lane holds records and has finished none for lane_stall_s seconds (also makes /health 503).",
            ["service", "group", "topic", "partition"],
            registry=self.registry,
        )
        self.undeliverable = Counter(
            "grd_outbox_undeliverable_total",
            "Outbox events Kafka refused for good (too large, forbidden topic): dead-lettered, not retried.",
            ["service"],
            registry=self.registry,
        )

        self.store_commands = Counter(
            "grd_store_commands_total",
            "Commands sent to the store, by command and collection (base name, partitions folded).",
            ["service", "command", "collection"],
            registry=self.registry,
        )
        self.store_seconds = Counter(
            "grd_store_command_seconds_total", "Time spent waiting for store commands.", ["service", "command"], registry=self.registry
        )

    def render(self) -> bytes:
        """Return the Prometheus text exposition."""
        return generate_latest(self.registry)
