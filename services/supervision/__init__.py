"""Supervision: the operations team's page and API over flow, backlog, consumers, dead letters and health."""
