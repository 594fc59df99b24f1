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
from .commands import attest as _attest_commands  # noqa: F401
from .commands import impact as _impact_commands  # noqa: F401
from .commands import demo as _demo_commands  # noqa: F401
from .commands import evidence as _evidence_commands  # noqa: F401
from .commands import log as _log_commands  # noqa: F401
from .commands import policy as _policy_commands  # noqa: F401
from .commands import registry as _registry_commands  # noqa: F401
from .commands import scenario as _scenario_commands  # noqa: F401
from .commands import evidencetemplate as _evidence_template_commands  # noqa: F401
# isort: on
# Re-exported: clidoc reads the app, tests/fuzzkit.py drives input_document, the tests
# load engines with load_engine and EngineChoice.
from .commands.check import input_document as input_document
from .commands.common import app as app
from .commands.common import load_engine as load_engine
from .commands.options import EngineChoice as EngineChoice


def main() -> None:
    app()


if __name__ == "__main__":
    main()
