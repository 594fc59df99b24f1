"""The command line: assemble the typer app from the command modules, nothing else.

Every command lives in :mod:`mlgate.commands` (shared options and helpers in
:mod:`mlgate.commands.common`). Keep this module import-light: mlflow, sqlalchemy and rich
are imported inside the commands that need them, so ``mlgate --help`` and
``mlgate check --input`` start fast.
"""

from __future__ import annotations

# The registration order is the order of ``mlgate --help``: check first.
# isort: off
from .commands import check as _check_commands  # noqa: F401
from .commands import audit as _audit_commands  # noqa: F401
from .commands import impact as _impact_commands  # noqa: F401
from .commands import demo as _demo_commands  # noqa: F401
from .commands import log as _log_commands  # noqa: F401
from .commands import policy as _policy_commands  # noqa: F401
from .commands import registry as _registry_commands  # noqa: F401
from .commands import scenario as _scenario_commands  # noqa: F401
# isort: on
from .commands.check import input_document  # noqa: F401 - tests/fuzzkit.py drives it
from .commands.common import EngineChoice, app, load_engine  # noqa: F401 - for tests


def main() -> None:
    app()


if __name__ == "__main__":
    main()
