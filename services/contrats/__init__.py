"""Contrats service: the contract processes (CF, MES, modifications, cessation) and the contracts' lifecycle."""
