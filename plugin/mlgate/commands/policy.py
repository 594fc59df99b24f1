"""``mlgate policy test | check | push``."""

from __future__ import annotations

from ..cli import policy_app  # noqa: F401  (commands are added below)
