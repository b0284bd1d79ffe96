"""Simulator of the AMM meter head-end (SI comptage): answers tele-operation commands with a deterministic result."""
