"""Référentiel service: delivery points (EDL/PDS), access levels, relèves, search and consultation, audit."""
