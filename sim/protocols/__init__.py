"""Consensus mechanisms, one module each, discovered by name."""
