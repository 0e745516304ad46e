"""URLs as they may be written down: without credentials, query string or fragment (foundation).

Base URLs end up in manifests, checkpoints, logs and ``CatalogMeta``; a user may have typed
``https://key:secret@host/v1``.  ``safe_base_url`` keeps only scheme, host, port and path, and
lives below every layer that writes a URL, so the tables need not import the listing for it;
``errors.clean_url`` shares its handling of the host and port.
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit, urlunsplit


def host_and_port(parts: SplitResult, *, drop_bad_port: bool = False) -> str:
    """The network location of split URL ``parts`` without userinfo: ``host`` or ``host:port``.

    A port that is not a number raises ``ValueError`` (``urlsplit``'s own complaint), or is
    left out with ``drop_bad_port``.
    """
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        if not drop_bad_port:
            raise
        port = None
    return f"{host}:{port}" if port else host


def safe_base_url(url: str | None) -> str | None:
    """The base URL without userinfo, query string or fragment (credentials never get written)."""
    if not url:
        return url
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, host_and_port(parts, drop_bad_port=True), parts.path, "", ""))
