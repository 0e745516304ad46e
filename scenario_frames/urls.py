"""URLs as they may be written down: without credentials, query string or fragment (foundation).

Base URLs end up in manifests, checkpoints, logs and ``CatalogMeta``; a user may have typed
``https://key:secret@host/v1``.  ``safe_base_url`` keeps only scheme, host, port and path, and
lives below every layer that writes a URL, so the tables need not import the listing for it.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def safe_base_url(url: str | None) -> str | None:
    """The base URL without userinfo, query string or fragment (credentials never get written)."""
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
