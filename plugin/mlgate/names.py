"""What counts as "the same name": aliases, stages and tag keys as a database matches them.

MariaDB's default ``utf8mb4_general_ci`` collation (and others like it) compares names
case- and accent-insensitively and ignores trailing spaces, so ``prodúction`` and
``production `` find the row of ``production``. Python's ``==`` must never be the judge
of whether a name is protected or a tag is compliance evidence: :func:`fold` maps a name
to a form at least as coarse as any collation an MLflow registry runs on (Unicode NFKC,
case fold, accents and invisible characters dropped, look-alike letters mapped to Latin),
and the gate compares folded forms.

Contract section 7: an alias that folds to a protected one is either that alias (a plain
case variant, enforced as the protected alias) or refused; a tag key that folds to a
``compliance.`` key is compliance evidence.
"""

from __future__ import annotations

import unicodedata

COMPLIANCE_PREFIX = "compliance."

# Letters that render like a Latin letter (Cyrillic, Greek, Latin specials). Not the whole
# Unicode confusables table: the letters that spell the protected names and the prefix
# ``compliance.``, and the dotless/dotted i that case folding does not unify.
_LOOKALIKES = str.maketrans(
    {
        "ı": "i", "і": "i", "ι": "i", "ӏ": "i", "ɩ": "i",
        "а": "a", "α": "a", "ɑ": "a",
        "с": "c", "ϲ": "c",
        "е": "e", "ε": "e", "ҽ": "e",
        "һ": "h",
        "ј": "j",
        "к": "k", "κ": "k",
        "ł": "l",
        "м": "m",
        "ո": "n", "η": "n",
        "о": "o", "ο": "o", "σ": "o", "ө": "o", "ø": "o",
        "р": "p", "ρ": "p",
        "ԛ": "q",
        "г": "r",
        "ѕ": "s", "ſ": "s",
        "т": "t", "τ": "t",
        "υ": "u", "ս": "u",
        "ν": "v", "ѵ": "v",
        "ԝ": "w", "ω": "w",
        "х": "x", "χ": "x",
        "у": "y", "γ": "y",
        "ᴢ": "z",
        "․": ".", "。": ".", "︒": ".", "﹒": ".",
    }
)


def _invisible(ch: str) -> bool:
    # Combining marks (accents after NFKD), format characters (zero-width space, joiners,
    # bidi controls, soft hyphen) and other controls: none of them is visible in a name.
    return unicodedata.category(ch) in {"Mn", "Me", "Cf", "Cc"}


def fold(name: str) -> str:
    """The coarse comparison form of ``name``; two names with the same fold are "the same"."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", name))
    text = "".join(ch for ch in text if not _invisible(ch))
    text = text.casefold().translate(_LOOKALIKES)
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if not _invisible(ch)).strip()


def has_control_characters(name: str) -> bool:
    """True when ``name`` holds a control, format or line-break character (``production\\n``)."""
    return any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in name)


def is_compliance_key(key: str) -> bool:
    """True for a tag key that a database could match to a ``compliance.*`` key."""
    return fold(key).startswith(COMPLIANCE_PREFIX)


def protected_match(name: str, protected: list[str] | tuple[str, ...] | set[str]) -> str | None:
    """The protected name that ``name`` folds to, or None."""
    folded = fold(name)
    for candidate in protected:
        if fold(candidate) == folded:
            return candidate
    return None


def is_plain_variant(name: str, protected_name: str) -> bool:
    """True when ``name`` differs from ``protected_name`` by ASCII letter case alone."""
    return name.isascii() and name.lower() == protected_name.lower()
