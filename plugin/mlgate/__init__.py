"""mlgate: a policy-as-code gate for ML model promotion."""

__version__ = "0.1.0"
