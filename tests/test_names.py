"""names.fold: the comparison form of aliases and tag keys, coarser than any collation."""

from __future__ import annotations

import pytest

from mlgate.names import fold, has_control_characters, is_compliance_key, protected_match
from mlgate.textsafe import printable

PROTECTED = ["production", "public", "champion"]


@pytest.mark.parametrize(
    "alias",
    [
        "production", "Production", "PRODUCTION", "prodúction", "PRODUCTİON", "publıc",
        "chámpion", "prоduction", "ｐｒｏｄｕｃｔｉｏｎ", "pro\u200bduction", "production ",
        "production\n", "pub\u00adlic",
    ],
)
def test_look_alikes_fold_to_the_protected_name(alias: str) -> None:
    assert protected_match(alias, PROTECTED) is not None


@pytest.mark.parametrize("alias", ["staging", "candidate", "prod", "productions", "publics"])
def test_other_names_do_not_match(alias: str) -> None:
    assert protected_match(alias, PROTECTED) is None


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("compliance.filing.status", True),
        ("COMPLIANCE.x", True),
        ("Compliánce.x", True),
        ("compliance\uff0ex", True),
        ("complianceX", False),
        ("mlgate.decision", False),
        ("notcompliance.x", False),
    ],
)
def test_compliance_keys(key: str, expected: bool) -> None:
    assert is_compliance_key(key) is expected


def test_control_characters() -> None:
    assert has_control_characters("production\n")
    assert has_control_characters("a\u202eb")
    assert not has_control_characters("production")
    assert fold("A\u0301") == "a"


def test_printable_escapes_terminal_sequences() -> None:
    assert printable("a\x1b[31mb") == "a\\x1b[31mb"
    assert printable("line1\nline2", keep_newlines=True) == "line1\nline2"
    assert printable("line1\nline2") == "line1\\x0aline2"
