"""Engines: ``embedded`` (regorus, in-process) and ``opa`` (an OPA server over REST)."""
