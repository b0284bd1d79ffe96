"""Planification service: programmation of BT < 36 kVA interventions, slot capacity, tele-operations."""
