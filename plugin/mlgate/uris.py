"""URIs in one place: the registry plugin's ``mlgate+`` scheme, sqlite paths, password masks.

Import-free (the standard library only; SQLAlchemy inside the one function that needs it),
so the registry's entry module, the CLI and the page read it without loading a database
library. Every module that strips the ``mlgate+`` prefix, finds a sqlite file or masks a
password in a URI for a message calls these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlalchemy as sa

PREFIX = "mlgate+"
"""The registry store plugin's scheme prefix: ``mlgate+postgresql://...``."""

BACKENDS: tuple[str, ...] = ("sqlite", "postgresql", "mysql", "mssql")
"""The SQL backends the gated store runs on (what may follow ``mlgate+``)."""

MASK = "***"


def strip_prefix(uri: str) -> str:
    """``mlgate+postgresql://...`` -> ``postgresql://...`` (the same database); any other
    URI unchanged. One prefix is removed: ``PREFIX + u`` gives back ``u``."""
    return uri[len(PREFIX):] if uri.startswith(PREFIX) else uri


def backend_of(uri: str) -> str:
    """The database backend a URI names, lower case: ``mysql+pymysql://...`` -> ``mysql``
    (``mlgate+`` removed first); ``""`` for a plain path."""
    scheme, sep, _ = strip_prefix(uri).partition("://")
    return scheme.split("+", 1)[0].lower() if sep else ""


def sqlite_path(uri: str) -> str | None:
    """The database file of a ``sqlite:///<path>`` URI (also ``mlgate+sqlite``, a driver
    such as ``sqlite+pysqlite``, a ``?query``), or None: another database, no path, or
    ``:memory:``. ``sqlite:////abs/x.db`` -> ``/abs/x.db``; ``sqlite:///x.db`` -> ``x.db``."""
    uri = strip_prefix(uri.strip())
    if backend_of(uri) != "sqlite":
        return None
    rest = uri.partition("://")[2]
    path = (rest[1:] if rest.startswith("/") else rest).split("?", 1)[0]
    return None if path in ("", ":memory:") else path


def mask_password(uri: str) -> str:
    """``scheme://user:secret@host/...`` -> ``scheme://user:***@host/...``: a URI fit for a
    message or a page. The user name stays (no password: the URI is unchanged); a password
    holding ``@`` is masked whole (the host is what follows the authority's last ``@``).
    Works on text no URL parser accepts, since error messages quote exactly those."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return uri
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    userinfo, at, host = rest[:end].rpartition("@")
    if not at:
        return uri
    user, colon, _ = userinfo.partition(":")
    if not colon:
        return uri
    return f"{scheme}://{user}:{MASK}@{host}{rest[end:]}"


# SQLAlchemy's default driver for a driverless URL, and the one to use instead when only
# that one is installed (MLflow users write ``postgresql://``; SQLAlchemy 2.1 defaults it
# to psycopg 3 while most installs have psycopg2).
_DRIVER_FALLBACKS: dict[str, tuple[str, str]] = {
    "postgresql": ("psycopg", "psycopg2"),
    "mysql": ("MySQLdb", "pymysql"),
    "mariadb": ("MySQLdb", "pymysql"),
}


def with_installed_driver(url: sa.engine.URL) -> sa.engine.URL:
    """A driverless SQLAlchemy URL with the driver that is installed."""
    from importlib.util import find_spec

    fallback = _DRIVER_FALLBACKS.get(url.drivername)
    if fallback is None:
        return url
    default_module, alternative = fallback
    if find_spec(default_module) is None and find_spec(alternative) is not None:
        return url.set(drivername=f"{url.drivername}+{alternative}")
    return url


def with_installed_driver_text(uri: str) -> str:
    """:func:`with_installed_driver` for a URI string (unchanged when it names a driver or
    does not parse: the store that opens it says what is wrong)."""
    import sqlalchemy as sa

    try:
        url = sa.engine.make_url(uri)
    except sa.exc.ArgumentError:
        return uri
    if "+" in url.drivername:
        return uri
    return with_installed_driver(url).render_as_string(hide_password=False)
