"""Shared runtime of the platform's services: settings, broker, at-least-once consumption, inbox/outbox, health, metrics, logs."""
