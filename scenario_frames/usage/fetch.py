"""Usage fetched from ``GET /v1/usages``, cut into windows the API accepts and glued back together.

``usage_windows`` tiles a half-open period ``[start, end)`` into windows of at most
``MAX_WINDOW_DAYS`` days (the API's limit) with no overlap and no gap; ``fetch_model_usage``
asks for each window and ``parse_model_usages`` turns each answer into the tidy usage shape
(``shape.USAGE_SCHEMA``).  A point is kept when the start of its bucket falls inside the
period, so with daily buckets pass whole days.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

import orjson
import polars as pl

from ..errors import APIResponseValidationError, QueryError
from ..listing.query import as_list, iso_utc
from ..schema import KEY
from ..transport.client import ClientConfigError, ScenarioClient, expect_list
from .shape import USAGE_SCHEMA, _as_utc, _parse_time_expr, empty_usage

log = logging.getLogger(__name__)


USAGE_PATH = "/usages"
MAX_WINDOW_DAYS = 120  # the API refuses startDate/endDate further apart than this


# =============================================================================================
# Date windows
# =============================================================================================


def usage_windows(
    start: str | date | datetime, end: str | date | datetime, *, max_days: int = MAX_WINDOW_DAYS
) -> list[tuple[datetime, datetime]]:
    """Cut the half-open period ``[start, end)`` into consecutive windows of at most ``max_days``.

    Each window's end is the next one's start, so together they cover the period exactly
    once.  Raises :class:`QueryError` (a ValueError) when ``end`` is not after ``start``.
    """
    lo, hi = _as_utc(start, "start"), _as_utc(end, "end")
    if hi <= lo:
        raise QueryError(
            "usage-range",
            f"end ({iso_utc(hi)}) must be after start ({iso_utc(lo)}); "
            "the range is start-inclusive, end-exclusive",
        )
    if max_days < 1:
        raise QueryError("usage-range", f"max_days must be at least 1, got {max_days}")
    step = timedelta(days=max_days)
    windows: list[tuple[datetime, datetime]] = []
    cursor = lo
    while cursor < hi:
        nxt = min(cursor + step, hi)
        windows.append((cursor, nxt))
        cursor = nxt
    return windows


# =============================================================================================
# Fetch
# =============================================================================================


_HAS_LIST = expect_list("modelUsages")


def check_model_usages_body(data: Any) -> str | None:
    """Body check for a 200 of ``/usages?type=model-usages`` (plugged into the client).

    Gets the parsed JSON; returns ``None`` when it is usable, else a short reason.  The body
    must be an object with a ``modelUsages`` list whose items are objects with a string
    ``modelId`` and a ``points`` list.  A failing 200 is retried by the client like a 5xx.
    """
    problem = _HAS_LIST(data)
    if problem:
        return problem
    for i, item in enumerate(data["modelUsages"]):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("modelId"), str)
            or not isinstance(item.get("points", []), list)
        ):
            return f"modelUsages[{i}] is not an object with a modelId and a points list"
    return None


_POINT_STRUCT = pl.Struct(
    {
        "time": pl.String(),
        "jobs": pl.Float64(),
        "cost": pl.Float64(),
        "discount": pl.Float64(),
        "apiKeyCost": pl.Float64(),
        "apiKeyDiscount": pl.Float64(),
    }
)


def _granularity_expr(time: pl.Expr, window_days: float) -> pl.Expr:
    """Guess the bucket size from the smallest step between distinct timestamps.

    The documented answer carries no granularity field; the bucket size follows the
    length of the requested range.
    With a single timestamp the window length decides (≤ 2 days: hourly, else daily).
    """
    gaps = time.unique().sort().diff().dt.total_seconds()
    step = gaps.filter(gaps > 0).min()
    fallback = pl.lit("hour" if window_days <= 2 else "day")
    return (
        pl.when(step.is_null())
        .then(fallback)
        .when(step <= 3600)
        .then(pl.lit("hour"))
        .when(step <= 86400)
        .then(pl.lit("day"))
        .when(step <= 7 * 86400)
        .then(pl.lit("week"))
        .otherwise(pl.lit("month"))
    )


def parse_model_usages(
    body: bytes | str | Mapping[str, Any], *, window: tuple[datetime, datetime] | None = None
) -> pl.DataFrame:
    """Turn one ``{"modelUsages": [...]}`` body into tidy usage rows.

    When ``window`` is given, points outside the half-open window are dropped: whatever the
    server's own convention for ``endDate``, consecutive windows then never share a point.
    """
    try:
        data = orjson.loads(body) if isinstance(body, bytes | bytearray | str) else body
    except orjson.JSONDecodeError:
        raise APIResponseValidationError(
            "usage answer is not valid JSON", reason="invalid-body", path=USAGE_PATH
        ) from None
    problem = check_model_usages_body(data)
    if problem:
        raise APIResponseValidationError(
            f"unusable usage answer: {problem}", reason="invalid-body", path=USAGE_PATH
        )
    usages = data["modelUsages"]
    if not usages:
        return empty_usage()
    raw = pl.from_dicts(
        usages, schema={"modelId": pl.String(), "points": pl.List(_POINT_STRUCT)}, strict=False
    )
    frame = (
        raw.explode("points")
        .filter(pl.col("points").is_not_null())
        .unnest("points")
        .select(
            pl.col("modelId").alias("model_id"),
            _parse_time_expr(pl.col("time")).alias("time"),
            pl.col("jobs").round(0).cast(pl.Int64),
            pl.col("cost"),
            pl.col("discount"),
            pl.col("apiKeyCost").alias("api_key_cost"),
            pl.col("apiKeyDiscount").alias("api_key_discount"),
        )
    )
    bad = frame.filter(pl.col("time").is_null()).height
    if bad:
        raise APIResponseValidationError(
            f"{bad} usage points have no readable time", reason="invalid-body", path=USAGE_PATH
        )
    days = (window[1] - window[0]).total_seconds() / 86400 if window else 31.0
    frame = frame.with_columns(_granularity_expr(pl.col("time"), days).alias("granularity"))
    if window is not None:
        before = frame.height
        frame = frame.filter((pl.col("time") >= window[0]) & (pl.col("time") < window[1]))
        if frame.height != before:
            log.debug(
                "dropped %d usage points outside [%s, %s)",
                before - frame.height,
                iso_utc(window[0]),
                iso_utc(window[1]),
            )
    return frame.select(pl.col(n).cast(t) for n, t in USAGE_SCHEMA.items())


def fetch_model_usage(
    start: str | date | datetime,
    end: str | date | datetime,
    project_ids: str | Iterable[str] | None = None,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    api_secret: str | None = None,
    client: ScenarioClient | None = None,
    progress: bool = False,
    max_days: int = MAX_WINDOW_DAYS,
) -> pl.DataFrame:
    """Fetch per-model usage points for the half-open period ``[start, end)`` as one tidy frame.

    Usage is what an account's jobs cost, model by model and day by day
    (``GET /usages?type=model-usages``); joined with the catalog it tells which models are
    used and what they cost.  Periods longer than ``max_days`` (120, the API's limit) are fetched in consecutive
    windows (see :func:`usage_windows`); each answer is cut to its own window and the rows
    are de-duplicated on ``(model_id, time)``, so the result has neither overlap nor gap.
    Credentials, base URL, retries and the secrecy rules are the :class:`ScenarioClient`'s;
    pass ``client`` to reuse one (e.g. with a custom deadline).

    Parameters
    ----------
    start, end : str, date or datetime
        The period, start included and end excluded (naive times are taken as UTC).
    project_ids : str or iterable of str, optional
        Only the usage of these projects (a list, or comma-separated text); default all.
    base_url, api_key, api_secret : str, optional
        As for :func:`fetch_catalog`; usage needs a key pair (the public token cannot read it).
    client : ScenarioClient, optional
        A client to use instead of building one from the three arguments above.
    progress : bool, default False
        Show a progress bar over the windows.
    max_days : int, default 120
        The longest window of one request (the API's limit).

    Returns
    -------
    polars.DataFrame
        One row per (``model_id``, ``time``), sorted by both: ``jobs``, ``cost`` (compute
        units), ``discount``, ``api_key_cost``, ``api_key_discount`` and ``granularity``.

    Raises
    ------
    ClientConfigError
        No key pair was given or found (usage is private to an account).
    QueryError
        ``end`` is not after ``start``, or ``max_days`` is below 1.
    ScenarioAPIError
        The API refused a request for good (after the client's retries).

    See Also
    --------
    load_usage : Usage you keep yourself, in the same shape.
    join_usage : Attach catalog columns to each usage row.

    Examples
    --------
    A week of the demo account's usage:

    >>> from scenario_frames import fetch_catalog, fetch_model_usage, serve_demo
    >>> with serve_demo(models=40, seed=1) as demo:
    ...     account = {"base_url": demo.base_url, "api_key": "demo", "api_secret": "demo"}
    ...     catalog = fetch_catalog(**account, progress=False)
    ...     usage = fetch_model_usage("2026-01-01", "2026-01-08", **account)
    >>> usage.height, usage["model_id"].n_unique()
    (119, 17)
    >>> usage.columns[:4]
    ['model_id', 'time', 'jobs', 'cost']
    >>> str(usage["time"].min()), str(usage["time"].max())
    ('2026-01-01 00:00:00+00:00', '2026-01-07 00:00:00+00:00')
    """
    windows = usage_windows(start, end, max_days=max_days)
    own_client = client is None
    if client is None:
        client = ScenarioClient(base_url=base_url, api_key=api_key, api_secret=api_secret)
    if client.is_public:
        if own_client:
            client.close()
        raise ClientConfigError(
            "usage is private to an account: pass api_key and api_secret, or set "
            "SCENARIO_API_KEY and SCENARIO_API_SECRET (the public token cannot read usage)"
        )
    ids = as_list(project_ids or [])
    frames: list[pl.DataFrame] = []
    iterator: Iterable[tuple[datetime, datetime]] = windows
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(windows, desc="usage windows", unit="call")
        iterator = bar
    try:
        for lo, hi in iterator:
            params = {"type": "model-usages", "startDate": iso_utc(lo), "endDate": iso_utc(hi)}
            if ids:
                params["projectIds"] = ",".join(ids)
            _raw, data = client.get_json(USAGE_PATH, params, check=check_model_usages_body)
            frames.append(parse_model_usages(data, window=(lo, hi)))
    finally:
        if bar is not None:
            bar.close()
        if own_client:
            client.close()
    usage = pl.concat(frames, how="vertical") if frames else empty_usage()
    before = usage.height
    usage = usage.unique(subset=[KEY, "time"], keep="first", maintain_order=True)
    if usage.height != before:
        log.info("removed %d duplicate usage points at window edges", before - usage.height)
    log.info(
        "fetched %d usage points for %d models in %d call(s)",
        usage.height,
        usage.get_column(KEY).n_unique(),
        len(windows),
    )
    return usage.sort(KEY, "time")


# =============================================================================================
