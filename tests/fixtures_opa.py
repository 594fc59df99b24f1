"""Fixtures: opa."""
