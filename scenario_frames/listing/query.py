"""Query parameters of ``GET /models`` and the documented rules between them.

Users write snake_case keyword arguments (``page_size=500``, ``sort_by="createdAt"``,
``created_after=date(2025, 1, 1)``, ``types=["flux.1-lora"]``).  ``ModelQuery`` turns them
into the API's own names and checks every documented rule before a request leaves the
machine.  The rule table is shared with the demo server, which enforces the same rules
with ``400 {"message", "reason"}``, so client and simulator cannot drift apart.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime

from ..errors import QueryError
from ..schema import (
    MODEL_TYPES,
    QUERY_PRIVACY,
    QUERY_SORT_BY,
    QUERY_SORT_DIRECTION,
    QUERY_STATUS,
)

log = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 100  # the API's default
MAX_PAGE_SIZE = 500

# snake_case keyword -> API query name, in the reference's order.
API_NAMES: dict[str, str] = {
    "privacy": "privacy",
    "status": "status",
    "type": "type",
    "types": "types",
    "tags": "tags",
    "collection_id": "collectionId",
    "collection_ids": "collectionIds",
    "created_after": "createdAfter",
    "created_before": "createdBefore",
    "updated_after": "updatedAfter",
    "updated_before": "updatedBefore",
    "sort_by": "sortBy",
    "sort_direction": "sortDirection",
    "blacklisted": "blacklisted",
    "loaded_only": "loadedOnly",
    "original_assets": "originalAssets",
    "page_size": "pageSize",
    "pagination_token": "paginationToken",
}
SNAKE_NAMES = {v: k for k, v in API_NAMES.items()}

BOOL_PARAMS = ("blacklisted", "loadedOnly", "originalAssets")
DATE_PARAMS = ("createdAfter", "createdBefore", "updatedAfter", "updatedBefore")
LIST_PARAMS = ("types", "tags", "collectionIds")
PUBLIC_ONLY = ("tags", "collectionIds", "type", "types")
PRIVATE_ONLY = ("status", "collectionId")


# ---------------------------------------------------------------------------------------------
# Value conversion
# ---------------------------------------------------------------------------------------------


def to_utc(
    value: str | date | datetime, *, rule: str = "iso-date", what: str = "the value"
) -> datetime:
    """A timezone-aware UTC datetime from an ISO string, a date or a datetime (naive = UTC).

    Anything else raises ``QueryError`` under ``rule``, naming ``what`` was wrong.
    """
    if isinstance(value, str):
        dt = parse_iso(value)
    elif isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day, tzinfo=UTC)
    else:
        raise QueryError(
            rule,
            f"{what} must be an ISO date string, a date or a datetime, got {type(value).__name__}",
        )
    return dt.astimezone(UTC)


def iso_utc(value: str | date | datetime) -> str:
    """An ISO 8601 UTC string with milliseconds (``2025-01-02T03:04:05.000Z``).

    Strings are parsed and re-emitted so that a bad date fails here, not on the server.
    """
    dt = to_utc(value)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 date or date-time; a missing zone means UTC.  Raises QueryError."""
    t = text.strip()
    try:
        dt = datetime.fromisoformat(t[:-1] + "+00:00" if t.endswith(("Z", "z")) else t)
    except ValueError:
        raise QueryError(
            "iso-date",
            f"{text!r} is not an ISO 8601 date; write e.g. 2025-01-31 or 2025-01-31T12:00:00Z",
        ) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def as_list(value: str | Iterable[str]) -> list[str]:
    """A comma-separated string or an iterable as a list of trimmed, non-empty strings."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v).strip() for v in value if str(v).strip()]


def _as_bool(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower()
    raise QueryError("boolean", f"expected true or false, got {value!r}")


# ---------------------------------------------------------------------------------------------
# Rules: each takes the API-named parameters (strings) and says whether they break it
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One documented constraint of ``GET /models``."""

    id: str
    message: str
    broken: Callable[[Mapping[str, str]], bool]
    enum: bool = False  # a value outside a listed set: the server refuses, the client only warns


def _privacy(p: Mapping[str, str]) -> str:
    return p.get("privacy", "private")


def _sort_by(p: Mapping[str, str]) -> str:
    return p.get("sortBy") or ("score" if _privacy(p) == "public" else "createdAt")


def _bad_page_size(p: Mapping[str, str]) -> bool:
    if "pageSize" not in p:
        return False
    try:
        n = int(p["pageSize"])
    except ValueError:
        return True
    return not 1 <= n <= MAX_PAGE_SIZE


def _bad_date(p: Mapping[str, str]) -> bool:
    for k in DATE_PARAMS:
        if k in p:
            try:
                parse_iso(p[k])
            except QueryError:
                return True
    return False


RULES: tuple[Rule, ...] = (
    Rule(
        "privacy-enum",
        "privacy must be one of: private, public",
        lambda p: "privacy" in p and p["privacy"] not in QUERY_PRIVACY,
        enum=True,
    ),
    Rule(
        "sort-by-enum",
        "sortBy must be one of: createdAt, updatedAt, score",
        lambda p: "sortBy" in p and p["sortBy"] not in QUERY_SORT_BY,
        enum=True,
    ),
    Rule(
        "sort-direction-enum",
        "sortDirection must be asc or desc",
        lambda p: "sortDirection" in p and p["sortDirection"] not in QUERY_SORT_DIRECTION,
        enum=True,
    ),
    Rule(
        "status-enum",
        "status must be one of: new, training, trained, failed, deleted",
        lambda p: "status" in p and p["status"] not in QUERY_STATUS,
        enum=True,
    ),
    Rule(
        "boolean",
        "blacklisted, loadedOnly and originalAssets take true or false",
        lambda p: any(k in p and p[k] not in ("true", "false") for k in BOOL_PARAMS),
    ),
    Rule(
        "page-size-range", f"pageSize must be an integer from 1 to {MAX_PAGE_SIZE}", _bad_page_size
    ),
    Rule(
        "iso-date",
        "createdAfter, createdBefore, updatedAfter and updatedBefore take ISO 8601 dates",
        _bad_date,
    ),
    Rule(
        "type-with-types",
        "type and types cannot be used together: pass one of them",
        lambda p: "type" in p and "types" in p,
    ),
    Rule(
        "public-only",
        "tags, collectionIds, type and types are only available with privacy=public",
        lambda p: _privacy(p) != "public" and any(k in p for k in PUBLIC_ONLY),
    ),
    Rule(
        "private-only",
        "status and collectionId are only available with privacy=private (the default)",
        lambda p: _privacy(p) == "public" and any(k in p for k in PRIVATE_ONLY),
    ),
    Rule(
        "created-needs-sort-created-at",
        "createdAfter and createdBefore require sortBy=createdAt",
        lambda p: (
            any(k in p for k in ("createdAfter", "createdBefore")) and _sort_by(p) != "createdAt"
        ),
    ),
    Rule(
        "updated-needs-public-sort-updated-at",
        "updatedAfter and updatedBefore require privacy=public and sortBy=updatedAt",
        lambda p: (
            any(k in p for k in ("updatedAfter", "updatedBefore"))
            and (_privacy(p) != "public" or _sort_by(p) != "updatedAt")
        ),
    ),
    Rule(
        "private-sort",
        "privacy=private supports sortBy=createdAt or sortBy=score only",
        lambda p: _privacy(p) == "private" and p.get("sortBy") == "updatedAt",
    ),
    Rule(
        "score-needs-privacy-and-status",
        "sortBy=score for private models requires both the privacy and the status parameters",
        lambda p: (
            p.get("sortBy") == "score"
            and _privacy(p) == "private"
            and ("privacy" not in p or "status" not in p)
        ),
    ),
)

RULES_BY_ID: dict[str, Rule] = {r.id: r for r in RULES}


def first_broken_rule(
    params: Mapping[str, str], known_types: Iterable[str] = MODEL_TYPES
) -> Rule | None:
    """The first rule these API-named parameters break, or None (the demo server uses this).

    Unknown model types count as broken here (``type-enum``): a server refuses what it does
    not offer.  The client only warns about them, since the real API grows new types.
    """
    for rule in RULES:
        if rule.broken(params):
            return rule
    known = set(known_types)
    asked = ([params["type"]] if "type" in params else []) + as_list(params.get("types", ""))
    unknown = [t for t in asked if t not in known]
    if unknown:
        return Rule(
            "type-enum",
            f"unknown model type(s) {', '.join(unknown)}; see the reference's list",
            lambda p: True,
        )
    return None


# ---------------------------------------------------------------------------------------------
# The query object
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelQuery:
    """A ``GET /models`` query in snake_case, checked against every documented rule.

    Construct it with keyword arguments (unset ones are not sent); ``params()`` gives the
    API-named query string values.  Invalid combinations raise ``QueryError`` here, before
    any request, so a mistake costs no round trip and is named by the argument at fault.
    ``build`` is the usual way in: it also accepts dates, datetimes and sequences.

    Parameters
    ----------
    privacy, status, type, types, tags, collection_id, collection_ids : optional
        The filters of ``GET /models`` in snake_case; lists as lists of text.
    created_after, created_before, updated_after, updated_before : str, optional
        Time bounds as UTC ISO 8601 text.
    sort_by, sort_direction, blacklisted, loaded_only, original_assets : optional
        The remaining parameters of ``GET /models``.
    page_size : int, optional
        Records per page.
    extra : dict of str to str, optional
        Parameters sent as they are (API names), for what the reference does not list yet.

    Raises
    ------
    QueryError
        (from ``build`` and ``validate``) A documented rule is broken; ``rule`` names it.

    See Also
    --------
    fetch_catalog : Takes the same keywords.

    Examples
    --------
    >>> from scenario_frames import ModelQuery, QueryError
    >>> query = ModelQuery.build(
    ...     privacy="public", types=["sd-xl-lora"], created_after="2026-01-01", sort_by="createdAt"
    ... )
    >>> query.params()  # doctest: +NORMALIZE_WHITESPACE
    {'privacy': 'public', 'types': 'sd-xl-lora', 'createdAfter': '2026-01-01T00:00:00.000Z',
     'sortBy': 'createdAt'}
    >>> try:
    ...     ModelQuery.build(privacy="public", status="trained")
    ... except QueryError as exc:
    ...     print(exc.rule)
    private-only
    """

    privacy: str | None = None
    status: str | None = None
    type: str | None = None
    types: list[str] | None = None
    tags: list[str] | None = None
    collection_id: str | None = None
    collection_ids: list[str] | None = None
    created_after: str | None = None
    created_before: str | None = None
    updated_after: str | None = None
    updated_before: str | None = None
    sort_by: str | None = None
    sort_direction: str | None = None
    blacklisted: bool | None = None
    loaded_only: bool | None = None
    original_assets: bool | None = None
    page_size: int | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, **kwargs: object) -> ModelQuery:
        """Normalize keyword arguments (dates, lists, booleans), then validate every rule.

        Parameters
        ----------
        **kwargs
            Query arguments in snake_case (see the class); ``None`` means unset.  Dates and
            datetimes become UTC text, comma-separated text becomes a list.

        Returns
        -------
        ModelQuery
            The checked query.

        Raises
        ------
        TypeError
            An unknown argument name (the message lists the known ones).
        QueryError
            A value cannot be read, or a documented rule is broken.

        Examples
        --------
        >>> from datetime import date
        >>> from scenario_frames import ModelQuery
        >>> query = ModelQuery.build(
        ...     privacy="public",
        ...     tags="anime,ink",
        ...     created_before=date(2026, 1, 1),
        ...     sort_by="createdAt",
        ... )
        >>> query.tags, query.created_before
        (['anime', 'ink'], '2026-01-01T00:00:00.000Z')
        """
        unknown = [k for k in kwargs if k not in API_NAMES and k != "extra"]
        if unknown:
            raise TypeError(
                f"unknown query argument(s): {', '.join(sorted(unknown))}; "
                f"known: {', '.join(k for k in API_NAMES if k != 'pagination_token')}"
            )
        norm: dict[str, object] = {}
        for k, v in kwargs.items():
            if v is None or k == "pagination_token":
                continue
            api = API_NAMES.get(k)
            try:
                if api in DATE_PARAMS:
                    v = iso_utc(v)  # type: ignore[arg-type]
                elif api in LIST_PARAMS:
                    v = as_list(v)  # type: ignore[arg-type]
                elif api in BOOL_PARAMS:
                    v = _as_bool(v) == "true"
                elif api == "pageSize" and (isinstance(v, bool) or not isinstance(v, int)):
                    raise QueryError(
                        "page-size-range",
                        f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}, got {v!r}",
                    )
            except QueryError as exc:  # name the keyword at fault (and let the CLI name its flag)
                msg = exc.message if exc.message.startswith(k) else f"{k}: {exc.message}"
                raise QueryError(exc.rule, msg, params=(k,)) from None
            norm[k] = v
        q = cls(**norm)  # type: ignore[arg-type]
        q.validate()
        return q

    def params(self, *, page_size: int | None = None) -> dict[str, str]:
        """The API-named query parameters as strings (lists comma joined).

        Parameters
        ----------
        page_size : int, optional
            A ``pageSize`` to send unless the query sets its own.

        Returns
        -------
        dict of str to str
            The query string values by API name; ``extra`` ones last.

        Examples
        --------
        >>> from scenario_frames import ModelQuery
        >>> query = ModelQuery.build(privacy="public", types=["sd-xl-lora", "flux.1-lora"])
        >>> query.params(page_size=50)
        {'privacy': 'public', 'types': 'sd-xl-lora,flux.1-lora', 'pageSize': '50'}
        """
        out: dict[str, str] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            v = getattr(self, f.name)
            if v is None:
                continue
            api = API_NAMES[f.name]
            if isinstance(v, bool):
                out[api] = "true" if v else "false"
            elif isinstance(v, list):
                out[api] = ",".join(v)
            else:
                out[api] = str(v)
        if page_size is not None and "pageSize" not in out:
            out["pageSize"] = str(page_size)
        out.update(self.extra)
        return out

    def validate(self) -> None:
        """Raise ``QueryError`` for the first broken rule; warn about unknown model types.

        Unknown enum values and model types only warn (``UnknownEnumWarning``) and are
        sent anyway, since the API may have added them.

        Raises
        ------
        QueryError
            The first documented rule the query breaks.

        Examples
        --------
        >>> from scenario_frames import ModelQuery, QueryError
        >>> try:
        ...     ModelQuery(privacy="private", tags=["ink"]).validate()
        ... except QueryError as exc:
        ...     print(exc.rule)
        public-only
        """
        p = self.params()
        for rule in RULES:
            if not rule.broken(p):
                continue
            if rule.enum:
                warnings.warn(
                    f"{rule.message}; sending anyway (the API may have added values)",
                    UnknownEnumWarning,
                    stacklevel=3,
                )
                continue
            raise QueryError(
                rule.id,
                f"{rule.message}. {_FIXES.get(rule.id, '')}".strip(),
                params=tuple(SNAKE_NAMES.get(k, k) for k in _RULE_PARAMS.get(rule.id, ())),
            )
        asked = ([self.type] if self.type else []) + (self.types or [])
        unknown = [t for t in asked if t not in MODEL_TYPES]
        if unknown:
            warnings.warn(
                f"model type(s) {', '.join(unknown)} are not in the reference list; sending anyway "
                "(the API may have added them)",
                UnknownEnumWarning,
                stacklevel=3,
            )

    def with_changes(self, **changes: object) -> ModelQuery:
        """A copy with some API-level fields replaced (used to cut a listing into windows).

        The values are taken as they are (no normalization, no validation).

        Parameters
        ----------
        **changes
            Fields of the query and their new values.

        Returns
        -------
        ModelQuery
            The new query; this one is unchanged.

        Examples
        --------
        >>> from scenario_frames import ModelQuery
        >>> query = ModelQuery.build(privacy="public")
        >>> query.with_changes(created_before="2026-01-01T00:00:00.000Z").params()
        {'privacy': 'public', 'createdBefore': '2026-01-01T00:00:00.000Z'}
        """
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(changes)
        return ModelQuery(**data)

    @property
    def effective_privacy(self) -> str:
        """The privacy the API lists: the query's own, else ``private`` (the API's default)."""
        return self.privacy or "private"

    @property
    def effective_sort_by(self) -> str:
        """The field the API sorts by: ``sort_by``, else ``score`` (public) or ``createdAt``."""
        return _sort_by(self.params())

    def describe(self) -> dict[str, str]:
        """The query as a plain dict for manifests and logs (contains no credentials).

        Returns
        -------
        dict of str to str
            The same values as ``params()``.

        Examples
        --------
        >>> from scenario_frames import ModelQuery
        >>> ModelQuery.build(privacy="public").describe()
        {'privacy': 'public'}
        """
        return self.params()


class UnknownEnumWarning(UserWarning):
    """A value the reference does not list was sent or received; kept, not refused."""


_FIXES = {
    "type-with-types": "Fix: keep types=[...] and drop type, or the other way round.",
    "public-only": "Fix: add privacy='public', or drop the public-only filters.",
    "private-only": "Fix: drop status/collection_id, or list privacy='private'.",
    "created-needs-sort-created-at": "Fix: add sort_by='createdAt'.",
    "updated-needs-public-sort-updated-at": "Fix: add privacy='public' and sort_by='updatedAt'.",
    "private-sort": "Fix: use sort_by='createdAt' for private listings.",
    "score-needs-privacy-and-status": "Fix: pass privacy='private' and a status, or sort by createdAt.",
    "page-size-range": f"Fix: choose page_size between 1 and {MAX_PAGE_SIZE}.",
}


# The API parameters each rule is about (the CLI names their flags).
_RULE_PARAMS: dict[str, tuple[str, ...]] = {
    "boolean": BOOL_PARAMS,
    "page-size-range": ("pageSize",),
    "iso-date": DATE_PARAMS,
    "type-with-types": ("type", "types"),
    "public-only": PUBLIC_ONLY,
    "private-only": PRIVATE_ONLY,
    "created-needs-sort-created-at": ("createdAfter", "createdBefore", "sortBy"),
    "updated-needs-public-sort-updated-at": ("updatedAfter", "updatedBefore", "privacy", "sortBy"),
    "private-sort": ("privacy", "sortBy"),
    "score-needs-privacy-and-status": ("sortBy", "privacy", "status"),
}

# ---------------------------------------------------------------------------------------------
# The same errors in the command line's words
# ---------------------------------------------------------------------------------------------

_CREDENTIALS = "SCENARIO_API_KEY and SCENARIO_API_SECRET"


def flag(name: str) -> str:
    """The CLI flag of a query keyword or API parameter: ``sort_by``/``sortBy`` -> ``--sort-by``."""
    return "--" + SNAKE_NAMES.get(name, name).replace("_", "-")


def cli_message(exc: QueryError, *, credentials: bool = False) -> str:
    """``exc`` worded for a ``scenario-frames`` user: flags instead of Python keywords.

    ``credentials`` says whether a key pair was found, which decides the CLI's default
    privacy (public without one) and so the right fix for the privacy rules.  The Python
    wording (``str(exc)``) stays as it is for library callers.
    """
    default = "private" if credentials else "public"
    private_fix = (
        "add --privacy private"
        if credentials
        else f"set {_CREDENTIALS} in the environment and add --privacy private "
        "(without credentials only public models can be listed)"
    )
    words = {
        "page-size-range": f"--page-size must be between 1 and {MAX_PAGE_SIZE}",
        "type-with-types": "--type and --types cannot be used together: keep one of them",
        "public-only": (
            "--type, --types, --tags and --collection-ids filter public listings only: "
            f"add --privacy public (the default here is {default}) or drop them"
        ),
        "private-only": (
            "--status and --collection-id filter private listings only "
            f"(the default here is {default}): {private_fix}, or drop them"
        ),
        "created-needs-sort-created-at": "--created-after and --created-before need createdAt "
        "order: add --sort-by createdAt",
        "updated-needs-public-sort-updated-at": "--updated-after and --updated-before work on public "
        "listings in updatedAt order: add --privacy public "
        "--sort-by updatedAt",
        "private-sort": "--privacy private sorts by createdAt or score only: use --sort-by createdAt",
        "score-needs-privacy-and-status": "--sort-by score on private models needs both --privacy "
        "private and --status: add them, or use --sort-by createdAt",
        "boolean": "--blacklisted, --loaded-only and --original-assets take no value: give the "
        "flag for true, or its --no- form (e.g. --no-blacklisted) for false",
    }
    if exc.rule in words:
        return words[exc.rule]
    if exc.params and exc.rule in ("iso-date",):
        text = exc.message.removeprefix(f"{exc.params[0]}: ")
        return f"{flag(exc.params[0])}: {text}"
    return exc.message
