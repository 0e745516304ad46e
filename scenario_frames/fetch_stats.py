"""What fetching a listing cost and what it held, declared once (foundation).

``FetchStats`` is the only type that describes a fetch's figures.  Each field has one
owner that fills it:

* the listing (``listing.partition.list_pages``): the HTTP figures and how the listing ran
  (``requests`` ... ``resumed``);
* the table builder (``tables.catalog``): the fields named in ``DECODED``, the duplicates it
  dropped and the records per decoding route, merged in with ``with_decoded``.

``tables.catalog.CatalogMeta`` extends it with when, what and where from, so a catalog's
metadata, the fetcher's ``Listing`` and the snapshot manifest (``store.manifest.Manifest``)
carry the same fields without copying them by hand: a field added here reaches all three.
It lives below every layer so that the listing, the tables and the store can all use it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

__all__ = ["DECODED", "FetchStats"]

# The fields the table builder fills (the listing leaves them at zero).
DECODED = ("duplicates", "records_fast", "records_exact")


@dataclass(frozen=True, kw_only=True)
class FetchStats:
    """What a fetch cost (HTTP requests, retries and probes included; pages; time) and held.

    ``models`` counts the records in the pages as sent (a model listed twice counts twice);
    de-duplication is the table builder's, whose count is ``duplicates``.  Every field has a
    default, so figures that are unknown (a catalog built from local pages) read as zero.
    The fields are keyword-only and the object is frozen: a figure is set once, by its owner.

    Parameters
    ----------
    requests : int, default 0
        HTTP exchanges sent, retries, probes and redirects included.
    retries : int, default 0
        Requests that repeated a failed one.
    pages : int, default 0
        Listing pages kept.
    body_bytes : int, default 0
        Size of the kept page bodies, as the server sent them.
    models : int, default 0
        Records in the kept pages, duplicates included.
    duration_s : float, default 0.0
        Wall-clock seconds the listing took.
    partitioned : bool, default False
        Whether the listing was cut into ``createdAt`` windows paged by several workers.
    workers : int, default 1
        Workers that listed (1 when sequential).
    partitions : int, default 1
        ``createdAt`` windows, after every split.
    mode_reason : str, default ""
        Why the listing ran sequentially, or ``"partitioned"``.
    resumed : bool, default False
        Whether some pages came from the checkpoint of an earlier run.
    duplicates : int, default 0
        Extra copies of a model id that the table builder dropped (the later copy wins).
    records_fast : int, default 0
        Records decoded on the fast route (Arrow's typed read alone).
    records_exact : int, default 0
        Records decoded on the exact route (walked in Python: unknown fields, explicit nulls,
        custom models' inputs, bytes the fast route cannot prove).

    See Also
    --------
    scenario_frames.tables.catalog.CatalogMeta : These figures with when, what and where from.

    Examples
    --------
    A fetch's figures, from the embedded demo (its key pair passed explicitly):

    >>> from scenario_frames import ScenarioClient, fetch_pages, serve_demo
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     with ScenarioClient(demo.base_url, "demo", "demo") as client:
    ...         stats = fetch_pages(client=client, privacy="public", progress=False).stats
    >>> type(stats).__name__, stats.pages, stats.models, stats.retries
    ('FetchStats', 1, 26, 0)

    Figures written by another version read leniently: unknown keys are ignored, missing
    ones take their default, and values are converted to the field's type.

    >>> from scenario_frames import FetchStats
    >>> FetchStats.from_dict({"requests": "3", "pages": 2, "from_the_future": 1}).requests
    3
    >>> FetchStats(pages=2).with_decoded(FetchStats(records_fast=900)).records_fast
    900
    """

    requests: int = 0  # HTTP exchanges sent, retries, probes and redirects included
    retries: int = 0  # requests that were repeats of a failed one
    pages: int = 0  # listing pages kept
    body_bytes: int = 0  # size of the kept page bodies, as the server sent them
    models: int = 0  # records in the kept pages, duplicates included
    duration_s: float = 0.0  # wall-clock seconds the listing took
    partitioned: bool = False  # listed as createdAt windows by several workers
    workers: int = 1  # workers that listed (1 when sequential)
    partitions: int = 1  # createdAt windows, after every split
    mode_reason: str = ""  # why the listing was sequential, or "partitioned"
    resumed: bool = False  # some pages came from a checkpoint of an earlier run
    duplicates: int = 0  # extra copies of a model id dropped by the table builder
    records_fast: int = 0  # records decoded on the fast route (typed read only)
    records_exact: int = 0  # records decoded on the exact route (walked in Python)

    def fetch_stats(self) -> FetchStats:
        """These figures alone, as a plain ``FetchStats`` (a subclass's own fields dropped)."""
        return FetchStats(**self.stats_fields())

    def stats_fields(self) -> dict[str, Any]:
        """The ``FetchStats`` fields by name, e.g. to build a ``CatalogMeta`` from them."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(FetchStats)}

    def with_decoded(self, decoded: FetchStats) -> Self:
        """This object with the table builder's counts (``DECODED``) taken from ``decoded``.

        Whatever those counts were before is replaced: the builder is their only source.
        """
        return dataclasses.replace(self, **{name: getattr(decoded, name) for name in DECODED})

    def to_dict(self) -> dict[str, Any]:
        """Every field (a subclass's too) by name, as plain values."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Self:
        """The inverse of ``to_dict``, lenient with files written by other versions.

        Keys this class does not declare are ignored (a newer writer's), and missing or null
        ones take their default (an older writer's).  A value whose field has a number, flag
        or text default is converted to that type, so ``"3"`` reads as 3 and a value that
        cannot be converted raises ``ValueError`` naming the field.
        """
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            value = values.get(f.name)
            if value is None:
                continue  # the field's default
            kind = type(f.default) if f.default is not dataclasses.MISSING else None
            if kind in (bool, int, float, str):
                value = _convert(f.name, value, kind)
            kwargs[f.name] = value
        return cls(**kwargs)


def _convert(name: str, value: Any, kind: type) -> Any:
    """``value`` as ``kind`` (bool, int, float or str), or ``ValueError`` naming the field."""
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    try:
        if kind is bool:
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise ValueError(value)
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a {kind.__name__}, not {value!r}") from None
