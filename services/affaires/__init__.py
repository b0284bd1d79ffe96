"""Affaires service: opens affaires, follows their interventions and contract states, answers their views over HTTP."""
