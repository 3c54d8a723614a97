"""Tracking URIs: check the scheme up front, hide credentials in anything printed, build the ``harness sync`` hint.

No MLflow import unless a URI has a scheme this module does not know (then MLflow's own registry decides).

Usage::

    from harness.tracking.uri import check_tracking_uri, redact_uri, sync_command
    check_tracking_uri("foo://x", source="--mlflow-uri")     # HarnessError: unsupported scheme 'foo'
    redact_uri("http://user:secret@host:5000")               # 'http://user:***@host:5000'
    sync_command(Path("results/runs"), "sqlite:////abs/results/mlflow.db")
"""

from __future__ import annotations

import re
import shlex
import urllib.parse
from pathlib import Path

from harness.errors import HarnessError

#: Schemes every MLflow 2.x/3.x client handles (a path has the empty scheme); others are asked of MLflow.
KNOWN_SCHEMES = frozenset({"", "file", "sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks"})

REDACTED = "***"

#: Query parameters whose values are secrets (``?password=...``, ``?sslpassword=...``, ``?token=...``).
_SECRET_PARAM = re.compile(r"pass|pwd|secret|token|key|auth|credential|signature", re.IGNORECASE)
_QUERY_SECRET = re.compile(
    r"(?P<name>[^=&?#\s]*(?:pass|pwd|secret|token|key|auth|credential|signature)[^=&?#\s]*)=(?P<value>[^&#\s]*)",
    re.IGNORECASE,
)
#: ``scheme://user:password@`` anywhere in a text (an error message quoting a URL).
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/\s:@]*):(?P<password>[^/\s@]*)@")


def uri_scheme(uri: str) -> str:
    """The store kind: ``http``, ``sqlite``, ``postgresql`` (also for ``postgresql+psycopg2``), ``""`` for a path."""
    try:
        scheme = urllib.parse.urlsplit(uri).scheme.lower()
    except ValueError:
        return uri.split(":", 1)[0].lower() if "://" in uri else ""
    if len(scheme) == 1:  # a Windows drive letter: a path
        return ""
    return scheme.split("+", 1)[0]


def redact_uri(uri: str) -> str:
    """``uri`` safe to print: ``user:password@`` becomes ``user:***@``, a lone ``token@`` becomes ``***@``,
    and secret query values (``?password=...``) become ``***``. Other URIs come back unchanged.
    """
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError:
        return _USERINFO.sub(rf"\g<scheme>\g<user>:{REDACTED}@", uri)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:{REDACTED}@{host}" if colon else f"{REDACTED}@{host}"
    query = _QUERY_SECRET.sub(rf"\g<name>={REDACTED}", parts.query) if parts.query else parts.query
    if netloc == parts.netloc and query == parts.query:
        return uri
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))


def redact_text(text: str, uri: str | None) -> str:
    """``text`` (an error message) without the credentials of ``uri`` or of any ``scheme://user:pass@`` in it."""
    if uri:
        text = text.replace(uri, redact_uri(uri))
        for secret in _secrets(uri):
            if len(secret) >= 4:  # shorter ones would blank out ordinary words; the URL forms are gone already
                text = text.replace(secret, REDACTED)
    return _USERINFO.sub(rf"\g<scheme>\g<user>:{REDACTED}@", text)


def _secrets(uri: str) -> set[str]:
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError:
        return set()
    found: set[str] = set()
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        user, colon, password = userinfo.partition(":")
        found.add(password if colon else user)
    for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if _SECRET_PARAM.search(name):
            found.add(value)
    for secret in list(found):
        found.add(urllib.parse.quote(secret, safe=""))
        found.add(urllib.parse.unquote(secret))
    found.discard("")
    return found


def strip_userinfo(uri: str) -> str:
    """``uri`` without its ``user:password@`` part (for a request that must not send them as a host name)."""
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError:
        return uri
    if "@" not in parts.netloc:
        return uri
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (``None`` for other stores and in-memory databases)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///") :].split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


def sync_command(runs_dir: Path | None, uri: str | None) -> str:
    """The ``harness sync`` command that pushes ``runs_dir`` to the same store (credentials hidden, and said so)."""
    command = "harness sync"
    if runs_dir is not None:
        command += f" --runs-dir {shlex.quote(str(runs_dir))}"
    if uri:
        shown = redact_uri(uri)
        command += f" --mlflow-uri {shlex.quote(shown)}"
        if shown != uri:
            command += f"  (with the credentials in place of {REDACTED})"
    return command


def check_tracking_uri(uri: str, source: str | None = None, *, alternative: str | None = None) -> None:
    """Raise a :class:`HarnessError` for a URI no MLflow store can take (unknown scheme, http without a host).

    Args:
        uri: the resolved tracking URI.
        source: where it came from (``--mlflow-uri``, ``$MLFLOW_TRACKING_URI``), named in the error.
        alternative: another way out, offered in the error (``harness run`` offers ``--no-mlflow``).
    """
    scheme = uri_scheme(uri)
    where = f"{source} {redact_uri(uri)}" if source else f"MLflow tracking URI {redact_uri(uri)}"
    fix = "use e.g. sqlite:///path/to/mlflow.db or http://host:5000" + (f", or {alternative}" if alternative else "")
    if scheme in ("http", "https"):
        try:
            host = urllib.parse.urlsplit(uri).hostname
        except ValueError:
            host = None
        if not host:
            raise HarnessError(f"{where}: no host in the URI; {fix}")
        return
    if scheme in KNOWN_SCHEMES:
        return
    supported = _mlflow_schemes()
    if supported is None or _mlflow_takes(uri):
        return  # a plugin store, or an MLflow that hides its registry: its first call decides
    listed = ", ".join(repr(s) if s else "'' (a folder)" for s in supported)
    raise HarnessError(f"{where}: MLflow has no tracking store for the scheme {scheme!r} (it knows {listed}); {fix}")


def _mlflow_schemes() -> list[str] | None:
    try:
        from mlflow.tracking._tracking_service.utils import _tracking_store_registry

        return list(_tracking_store_registry._registry)
    except (ImportError, AttributeError):
        return None


def _mlflow_takes(uri: str) -> bool:
    from mlflow.tracking._tracking_service.utils import _tracking_store_registry

    try:
        _tracking_store_registry.get_store_builder(uri)
    except Exception:
        return False
    return True
