"""Simulators of the GRD's own systems (demo and tests only, never production code)."""
