"""Fixtures: mlflow."""
