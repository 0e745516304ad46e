"""Deterministic, lazy catalog of fake Scenario models for the demo API.

A model record is a pure function of ``(seed, index)``: nothing is built up front, so a
catalog of a million models costs nothing until pages are asked for.  Cheap per-index
facts (id, privacy, type, status, timestamps, score, tags...) come from an integer hash
(the query engine, ``engine``, filters and sorts on them); the full record is built only when
it is served.  Nothing here reads a query: this module makes records and keeps the catalog.

The record is derived from ``schema.MODEL``: every leaf is produced by walking the tree and
reading each Field's kind, enum, ``gen`` hint and bounds.  A few builders give realistic
shapes on top (capabilities that fit the model type, variants per capability and
resolution, custom-model inputs of every type, epochs for trained LoRAs...).

``createdAt`` never decreases with the index, so creation order is index order, and small
groups of consecutive models share their exact creation time (ties for partition tests).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import random
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .. import schema
from ..listing.query import iso_utc
from ..schema import Field, ListOf, Node, Obj

_M64 = (1 << 64) - 1
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_B62_INDEX = {c: i for i, c in enumerate(_B62)}

BASE_MS = 1_654_041_600_000  # 2022-06-01T00:00:00Z: creation time of index 0
# Index i is created sqrt(i) * 1.5 days after BASE: the pace of creation grows over time
# (300 models span about 26 days, 2,000 about 67 days, a million about 4 years).
_PACE_MS_SQ = 129_600_000**2
TIE_PERIOD = 29  # indices i with i % 29 in 0..TIE_WIDTH-1 share one creation time
TIE_WIDTH = 4
_DAY_MS = 86_400_000

DRIFT_TYPE = "flux.3-preview"
DRIFT_CAPABILITY = "txt2world"
DRIFT_STATUS = "archived"
DRIFT_INPUT_KIND = "pointcloud"

# Every node of ``schema.MODEL`` by its dotted API path (e.g. "parameters.rank",
# "performanceStats.variants.arenaScore"); FIELDS holds the leaves only.
NODES: dict[str, Node] = {}


def _index_nodes(nodes: tuple[Node, ...], prefix: str) -> None:
    for node in nodes:
        path = f"{prefix}{node.key}"
        NODES[path] = node
        if not isinstance(node, Field):
            _index_nodes(node.fields, path + ".")
            if isinstance(node, ListOf) and node.nested is not None:
                _index_nodes(node.nested.fields, f"{path}.{node.nested.key}.")


_index_nodes(schema.MODEL.fields, "")
FIELDS: dict[str, Field] = {k: n for k, n in NODES.items() if isinstance(n, Field)}


# ---------------------------------------------------------------------------------------------
# Hashing and formatting helpers
# ---------------------------------------------------------------------------------------------


def _mix(x: int) -> int:
    """A 64-bit avalanche mix (splitmix64 finalizer): cheap, well spread integers."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _h(seed: int, index: int, salt: int) -> int:
    return _mix(_mix((seed * 1_000_003 + salt) & _M64) ^ index)


def _b62(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 62)
        out.append(_B62[r])
    return "".join(reversed(out))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_ms(ms: int) -> str:
    """``query.iso_utc`` text (ISO 8601 UTC with milliseconds and a Z) from epoch milliseconds."""
    return iso_utc(_EPOCH + timedelta(milliseconds=int(ms)))


def created_ms(index: int) -> int:
    """Creation time of a model index (non-decreasing in the index, with small tie groups)."""
    r = index % TIE_PERIOD
    i = index - r if r < TIE_WIDTH else index
    return BASE_MS + math.isqrt(_PACE_MS_SQ * i)


def tie_group(index: int) -> range:
    """The consecutive indices that share the creation time of ``index``."""
    r = index % TIE_PERIOD
    if r < TIE_WIDTH:
        start = index - r
        return range(start, start + TIE_WIDTH)
    return range(index, index + 1)


def first_index_at_or_after(ms: int) -> int:
    """Smallest index whose creation time is >= ms (binary search on the monotone times)."""
    lo, hi = 0, 1
    while created_ms(hi) < ms:
        hi *= 2
        if hi > 1 << 45:
            return hi
    while lo < hi:
        mid = (lo + hi) // 2
        if created_ms(mid) < ms:
            lo = mid + 1
        else:
            hi = mid
    return lo


# Model ids embed a keyed permutation of the index, so an id maps back to its index cheaply.
_PERM_BITS = 40


def _feistel(x: int, key: int, inverse: bool = False) -> int:
    half = _PERM_BITS // 2
    mask = (1 << half) - 1
    left, right = x >> half, x & mask
    rounds = range(3, -1, -1) if inverse else range(4)
    for r in rounds:
        if inverse:
            left, right = right ^ (_mix(left ^ (key + r)) & mask), left
        else:
            left, right = right, left ^ (_mix(right ^ (key + r)) & mask)
    return (left << half) | right


def model_id(seed: int, index: int) -> str:
    """The id of a model: ``model_`` then 22 base-62 characters (7 of them encode the index)."""
    code = _b62(_feistel(index, seed & 0xFFFF), 7)
    tail = _b62(_h(seed, index, 77) ^ (_h(seed, index, 78) << 64), 15)
    return f"model_{code}{tail}"


def index_of(seed: int, mid: str) -> int | None:
    """The index a model id stands for, or None when the id was not made with this seed."""
    if not mid.startswith("model_") or len(mid) != 28:
        return None
    try:
        n = 0
        for c in mid[6:13]:
            n = n * 62 + _B62_INDEX[c]
    except KeyError:
        return None
    if n >= 1 << _PERM_BITS:
        return None
    index = _feistel(n, seed & 0xFFFF, inverse=True)
    return index if model_id(seed, index) == mid else None


def _rid(rng: random.Random, prefix: str, n: int = 22) -> str:
    return prefix + "".join(rng.choice(_B62) for _ in range(n))


# ---------------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------------

_NAME_WORDS = (
    "Cinematic",
    "Réalisme",
    "Pixel",
    "Anime",
    "Watercolor",
    "Noir",
    "Isométrique",
    "Low-poly",
    "Cyberpunk",
    "Studio Ghibli-ish",
    "Façade",
    "Crème",
    "Ñandú",
    "Zürich",
    "Smørrebrød",
    "水墨画",
    "像素风",
    "東京ナイト",
    "한복",
    "Ελληνικό",
    "Портрет",
    "🎨",
    "🚀",
    "🐉",
    "✨",
    "Character",
    "Sprite",
    "Landscape",
    "Portrait",
    "Icon",
    "Texture",
    "Voice",
    "Motion",
)
_NOUNS = (
    "Heroes",
    "Props",
    "Worlds",
    "Faces",
    "Tiles",
    "Weapons",
    "Potions",
    "Creatures",
    "Skies",
    "Cards",
    "Badges",
    "Narrator",
    "Style",
    "Edit",
    "Kit",
)
_TAGS = (
    "sci-fi",
    "landscape",
    "portrait",
    "anime",
    "pixel-art",
    "3d",
    "cartoon",
    "fantasy",
    "ui",
    "icons",
    "texture",
    "photoreal",
    "watercolor",
    "isometric",
    "character",
    "voice",
    "video",
    "game-asset",
    "concept-art",
    "low-poly",
    "sprite",
    "noir",
    "cyberpunk",
    "nature",
    "architecture",
    "vehicle",
    "weapon",
    "creature",
    "food",
    "fashion",
)
_PROMPT_WORDS = (
    "a",
    "knight",
    "in",
    "misty",
    "forest",
    "neon",
    "city",
    "at",
    "night",
    "cute",
    "robot",
    "holding",
    "a",
    "lantern",
    "golden",
    "hour",
    "daiton",
    "sks",
    "castle",
)
_SENTENCES = (
    "Generates highly detailed cinematic scenes.",
    "Trained on hand-painted game props with soft lighting.",
    "Produces clean isometric tiles — ready for level design.",
    "Voix chaleureuse pour la narration de jeux.",
    "角色设计风格，线条干净。",
    "Turns sketches into polished concept art ✨",
    "Short looping clips for UI motion.",
    "Reliable edits that keep the subject's identity.",
)
_BASE_MODELS = (
    "flux.1-dev",
    "flux.1-schnell",
    "stable-diffusion-v1-5",
    "stable-diffusion-xl-base-1.0",
    "flux.2-dev",
    "qwen-image",
    "z-image",
)
_LANGUAGES = ("en", "fr", "de", "es", "ja", "zh", "ko", "pt", "it")
_ARENA = {
    "img": "text_to_image",
    "vid": "image_to_video",
    "txt": "text_to_video",
    "aud": "text_to_speech",
    "edit": "image_edit",
    "3d": "text_to_3d",
}
_INPUT_NAMES = (
    "prompt",
    "image",
    "mask",
    "seed",
    "guidance",
    "duration",
    "aspect_ratio",
    "style",
    "loras",
    "lora_scales",
    "negative_prompt",
    "width",
    "height",
    "audio",
    "video",
)
_FILE_EXT = ("jpg", "png", "webp", "jpeg")
_RESOLUTIONS = ("0.5K", "1K", "2K", "4K")
_COLLECTIONS = tuple(f"collection_{_b62(_mix(k), 22)}" for k in range(12))

URL_SUFFIX = "?fm=webp&w=1024"  # transformed asset URLs carry this; originalAssets=true drops it

# ---------------------------------------------------------------------------------------------
# Model families: which types, their weights and their capabilities
# ---------------------------------------------------------------------------------------------

_SD_CAPS = (
    "txt2img",
    "img2img",
    "inpaint",
    "outpaint",
    "controlnet",
    "controlnet_img2img",
    "controlnet_inpaint",
    "txt2img_ip_adapter",
    "img2img_ip_adapter",
    "inpaint_ip_adapter",
    "controlnet_ip_adapter",
    "controlnet_inpaint_ip_adapter",
    "reference",
    "controlnet_reference",
    "txt2img_texture",
    "img2img_texture",
    "controlnet_texture",
    "reference_texture",
)
_FLUX_CAPS = ("txt2img", "img2img", "inpaint", "controlnet", "txt2img_ip_adapter", "reference")
_EDIT_CAPS = ("img2img", "reference", "txt2img")
_PRO_CAPS = ("txt2img", "img2img")
_CUSTOM_FAMILIES: dict[str, tuple[str, ...]] = {
    "video": ("txt2video", "img2video", "video2video", "audio2video"),
    "3d": ("txt23d", "img23d", "3d23d", "video23d"),
    "audio": ("txt2audio", "video2audio", "audio2audio"),
    "text": ("txt2txt", "img2txt", "audio2txt", "video2txt"),
    "image": ("img2img", "txt2img", "video2img", "outpaint"),
}


def _family(mtype: str) -> str:
    if mtype == "custom":
        return "custom"
    if mtype == "elevenlabs-voice":
        return "voice"
    if mtype.endswith("composition"):
        return "composition"
    if mtype.startswith("sd-"):
        return "sd-lora" if mtype.endswith("lora") else "sd-base"
    if "edit" in mtype or "kontext" in mtype:
        return "edit-lora" if mtype.endswith("lora") else "edit-base"
    if mtype.endswith("lora"):
        return "lora"
    return "base"


# (type, weight): LoRAs dominate a real catalog, base and custom models are fewer.
_TYPE_WEIGHTS: tuple[tuple[str, int], ...] = tuple(
    (
        t,
        30
        if t == "flux.1-lora"
        else 14
        if t == "custom"
        else 9
        if t.endswith("lora")
        else 6
        if t == "elevenlabs-voice"
        else 5
        if t.endswith("composition")
        else 3,
    )
    for t in schema.MODEL_TYPES
)
_TYPE_TABLE: list[str] = [t for t, w in _TYPE_WEIGHTS for _ in range(w)]


# ---------------------------------------------------------------------------------------------
# The cheap per-index facts used for filtering and sorting
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Facts:
    """A model's cheap summary (what listings filter and sort on), computed without the record."""

    index: int
    id: str
    privacy: str
    type: str
    status: str
    created: int  # epoch ms
    updated: int  # epoch ms
    score: float
    tags: tuple[str, ...]
    collections: tuple[str, ...]
    loaded: bool
    blacklisted: bool
    drift: bool


def privacy_of(seed: int, index: int) -> str:
    """Roughly 60% public, 30% private and 10% unlisted, by a hash of the index."""
    r = _h(seed, index, 1) % 10
    return "public" if r < 6 else "private" if r < 9 else "unlisted"


def updated_of(seed: int, index: int) -> int:
    """Last-update time (epoch ms) of an untouched model: some time after its creation."""
    h4 = _h(seed, index, 4)
    return created_ms(index) + (h4 % (240 * _DAY_MS) if h4 % 4 else h4 % 60_000)


def score_of(seed: int, index: int) -> float:
    """A hidden popularity score (what sortBy=score orders by).

    About one model in eight was never used and scores exactly 0, so there are ties even in
    small catalogs.
    """
    h5 = _h(seed, index, 5)
    return 0.0 if h5 % 8 == 0 else ((h5 >> 3) % 10_000_000) / 1000.0


_TYPE_TABLES: dict[tuple[str, ...], list[str]] = {}


def _type_table(types: tuple[str, ...] | None) -> list[str]:
    if types is None:
        return _TYPE_TABLE
    table = _TYPE_TABLES.get(types)
    if table is None:
        table = [t for t, w in _TYPE_WEIGHTS if t in types for _ in range(w)]
        table += [t for t in types if t not in schema.MODEL_TYPES]
        if not table:
            raise ValueError("types must name at least one model type")
        _TYPE_TABLES[types] = table
    return table


def facts(
    seed: int,
    index: int,
    *,
    drift: bool = False,
    blacklist_rate: float = 0.0,
    types: tuple[str, ...] | None = None,
) -> Facts:
    """The filter/sort facts of one model, a pure function of (seed, index).

    ``types`` restricts the model types drawn (e.g. to what a given client release knows).
    """
    privacy = privacy_of(seed, index)
    h2 = _h(seed, index, 2)
    table = _type_table(types)
    mtype = table[h2 % len(table)]
    is_drift = drift and _h(seed, index, 9) % 6 == 0
    if is_drift and (h2 >> 20) % 3 == 0:
        mtype = DRIFT_TYPE
    h3 = _h(seed, index, 3)
    fam = _family(mtype)
    if privacy == "public" or fam == "base" or fam == "edit-base":
        status = "trained"
    else:
        r = h3 % 100
        status = (
            "trained"
            if r < 58
            else "training"
            if r < 70
            else "new"
            if r < 80
            else "failed"
            if r < 87
            else "copying"
            if r < 92
            else "training-canceled"
        )
    if is_drift and (h3 >> 17) % 4 == 0:
        status = DRIFT_STATUS
    created = created_ms(index)
    updated = updated_of(seed, index)
    score = score_of(seed, index)
    h5 = _h(seed, index, 5)
    ntags = 1 + (h5 >> 20) % 4
    tags = tuple(dict.fromkeys(_TAGS[(h5 >> (24 + 5 * k)) % len(_TAGS)] for k in range(ntags)))
    h6 = _h(seed, index, 6)
    ncol = h6 % 3
    cols = tuple(
        dict.fromkeys(_COLLECTIONS[(h6 >> (8 + 4 * k)) % len(_COLLECTIONS)] for k in range(ncol))
    )
    loaded = (h6 >> 40) % 5 == 0
    blacklisted = ((h6 >> 48) % 1000) < blacklist_rate * 1000
    return Facts(
        index,
        model_id(seed, index),
        privacy,
        mtype,
        status,
        created,
        updated,
        score,
        tags,
        cols,
        loaded,
        blacklisted,
        is_drift,
    )


# ---------------------------------------------------------------------------------------------
# Values derived from the schema's Field descriptions
# ---------------------------------------------------------------------------------------------


class _Ctx:
    """Per-record state shared by the builders: the random stream and a few choices."""

    def __init__(self, seed: int, f: Facts) -> None:
        self.seed = seed
        self.f = f
        self.rng = random.Random(_h(seed, f.index, 99))
        self.caps: list[str] = []
        self.variant_keys: list[str] = []
        self.input_names: list[str] = []
        self.epochs: list[str] = []

    def url(self, kind: str = "assets") -> str:
        return f"https://cdn.cloud.scenario.com/{kind}/{_rid(self.rng, '', 16)}.webp{URL_SUFFIX}"

    def asset(self) -> str:
        return _rid(self.rng, "asset_")

    def prompt(self) -> str:
        return " ".join(self.rng.choice(_PROMPT_WORDS) for _ in range(self.rng.randint(3, 9)))

    def other_model(self) -> str:
        if self.f.index == 0:
            return model_id(self.seed, 1)
        return model_id(self.seed, self.rng.randrange(self.f.index))

    def iso_between(self, lo: int, hi: int) -> str:
        return iso_ms(lo if hi <= lo else self.rng.randint(lo, hi))


def _by_gen(fld: Field, c: _Ctx) -> Any:
    rng = c.rng
    g = fld.gen
    if g == "model_id":
        return c.f.id
    if g == "asset_id":
        return c.asset()
    if g == "asset_ids":
        return [c.asset() for _ in range(rng.randint(0, 3))]
    if g == "url":
        return c.url()
    if g == "urls":
        return [c.url("thumbnails") for _ in range(rng.randint(1, 3))]
    if g == "sentence":
        return rng.choice(_SENTENCES)
    if g == "word":
        return rng.choice(_TAGS)
    if g == "title":
        return f"{rng.choice(_NAME_WORDS)} {rng.choice(_NOUNS)}"
    if g == "slug":
        return f"{rng.choice(_TAGS)}-{rng.choice(_TAGS)}"
    if g == "prompt":
        return c.prompt()
    if g == "prompts":
        return [c.prompt() for _ in range(rng.randint(1, 3))]
    if g == "base_model":
        return rng.choice(_BASE_MODELS)
    if g == "base_models":
        return rng.sample(_BASE_MODELS[:2], rng.randint(1, 2))
    if g == "model_ref":
        return c.other_model()
    if g == "epoch":
        return c.epochs[-1] if c.epochs else f"{rng.randint(1, 30):06d}"
    if g == "input_name":
        return rng.choice(c.input_names) if c.input_names else rng.choice(_INPUT_NAMES)
    if g == "age":
        return rng.choice(("young", "middle_aged", "old"))
    if g == "clone_type":
        return rng.choice(("instant", "professional"))
    if g == "gender":
        return rng.choice(("female", "male", "neutral"))
    if g == "language":
        return rng.choice(_LANGUAGES)
    if g == "hash":
        return "".join(rng.choice("0123456789abcdef") for _ in range(40))
    if g == "capability":
        return rng.choice(c.caps) if c.caps else "txt2img"
    if g == "variant_key":
        return rng.choice(c.variant_keys) if c.variant_keys else "txt2img:1K"
    if g == "default_variant":
        return rng.choice(c.variant_keys) if c.variant_keys else None
    if g == "arena_category":
        return rng.choice(tuple(_ARENA.values()))
    if g == "resolution":
        return rng.choice(_RESOLUTIONS)
    if g == "user_id":
        return _rid(random.Random(_h(c.seed, c.f.index % 97, 11)), "user_")
    if g == "team_id":
        return _rid(random.Random(_h(c.seed, c.f.index % 13, 12)), "team_")
    if g == "model_name":
        return f"{rng.choice(_NAME_WORDS)} {rng.choice(_NOUNS)}"
    if g == "file_name":
        return f"{rng.choice(('img', 'photo', 'référence', '参考', 'ref'))}_{rng.randint(1, 999)}.{rng.choice(_FILE_EXT)}"
    if g == "tags":
        return list(c.f.tags)
    if g == "collection_ids":
        return list(c.f.collections)
    return None


def value_for(fld: Field, c: _Ctx) -> Any:
    """A plausible value for one schema Field, from its gen hint, kind, enum and bounds."""
    v = _by_gen(fld, c) if fld.gen else None
    if v is not None:
        return v
    rng = c.rng
    k = fld.kind
    if k in ("enum", "int_enum"):
        return rng.choice(fld.enum)
    if k == "list_enum":
        return rng.sample(fld.enum, rng.randint(1, min(3, len(fld.enum))))
    if k == "bool":
        return rng.random() < 0.5
    if k == "datetime":
        return c.iso_between(c.f.created, c.f.updated)
    if k == "epoch_ms":
        return rng.randint(c.f.created, c.f.updated)
    if k in ("number", "integer"):
        lo = 0.0 if fld.minimum is None else float(fld.minimum)
        hi = lo + 1000.0 if fld.maximum is None else float(fld.maximum)
        hi = min(hi, lo + 1e6)
        if hi - lo >= 10 and lo == int(lo):
            return rng.randint(int(lo), int(hi))
        return round(rng.uniform(lo, hi), 6)
    if k == "list_string":
        return [c.prompt() for _ in range(rng.randint(1, 2))]
    if k == "json":
        return {}
    if k == "string":
        return rng.choice(_SENTENCES)
    return None


def _generic(nodes: tuple, c: _Ctx, p_optional: float = 0.7) -> dict[str, Any]:
    """Fill an object from its schema nodes: required leaves always, optional ones often."""
    out: dict[str, Any] = {}
    for node in nodes:
        if isinstance(node, Field):
            if node.required or c.rng.random() < p_optional:
                out[node.key] = value_for(node, c)
        elif isinstance(node, Obj):
            if node.required or c.rng.random() < p_optional:
                out[node.key] = _generic(node.fields, c, p_optional)
        else:
            if node.required or c.rng.random() < p_optional:
                items = [_generic(node.fields, c, p_optional) for _ in range(c.rng.randint(1, 2))]
                out[node.key] = items
    return out


# ---------------------------------------------------------------------------------------------
# Realistic builders, one per model key that needs more than a generic value
# ---------------------------------------------------------------------------------------------

_ABSENT = object()


def _capabilities(c: _Ctx) -> list[str]:
    rng = c.rng
    fam = _family(c.f.type)
    if fam == "custom":
        fams = list(_CUSTOM_FAMILIES)
        pool = _CUSTOM_FAMILIES[fams[c.f.index % len(fams)]]
        caps = rng.sample(pool, rng.randint(1, len(pool)))
        if c.f.index % 10 == 0:
            caps = list(pool)
    elif fam == "voice":
        caps = ["txt2audio"] + (["audio2audio"] if rng.random() < 0.4 else [])
    elif fam in ("sd-base", "sd-lora", "composition"):
        n = len(_SD_CAPS) if c.f.index % 7 == 0 else rng.randint(2, 8)
        caps = list(_SD_CAPS[:n])
    elif fam in ("edit-lora", "edit-base"):
        caps = list(_EDIT_CAPS[: rng.randint(1, 3)])
    elif c.f.type in ("flux.1-pro", "flux1.1-pro", "flux.1.1-pro-ultra", "gpt-image-1"):
        caps = list(_PRO_CAPS) + (["inpaint"] if c.f.type == "gpt-image-1" else [])
    else:
        caps = list(_FLUX_CAPS[: rng.randint(2, len(_FLUX_CAPS))])
    if c.f.drift and c.f.index % 2 == 0:
        caps.append(DRIFT_CAPABILITY)
    c.caps = caps
    return caps


def _children(path: str) -> tuple[Node, ...]:
    """The fields of the object or list node at ``path`` (a leaf has none: KeyError)."""
    node = NODES[path]
    if isinstance(node, Field):
        raise KeyError(f"{path} is a leaf field, not an object or a list")
    return node.fields


_ARENA_FIELDS = _children("performanceStats.variants.arenaScore")
_RES_BY_CAP = {
    "txt2audio": (None,),
    "audio2audio": (None,),
    "video2audio": (None,),
    "txt2txt": (None,),
    "img2txt": (None,),
    "audio2txt": (None,),
    "video2txt": (None,),
}
_COST_BASE = {"video": 40.0, "3d": 25.0, "audio": 2.0, "text": 0.5, "img": 4.0}


def _cap_kind(cap: str) -> str:
    if "video" in cap and not cap.startswith("video2"):
        return "video"
    if cap.endswith("3d"):
        return "3d"
    if cap.endswith("audio"):
        return "audio"
    if cap.endswith("txt"):
        return "text"
    return "img"


def _performance(c: _Ctx) -> Any:
    rng = c.rng
    f = c.f
    if f.status != "trained" or (f.privacy != "public" and rng.random() < 0.5):
        return _ABSENT
    variants = []
    keys = []
    for cap in c.caps[:4]:
        kind = _cap_kind(cap)
        resolutions = _RES_BY_CAP.get(cap) or tuple(rng.sample(_RESOLUTIONS, rng.randint(1, 3)))
        for res in resolutions:
            scale = {None: 1.0, "0.5K": 0.5, "1K": 1.0, "2K": 2.2, "4K": 5.0}[res]
            p50 = round(_COST_BASE[kind] * scale * rng.uniform(0.6, 1.6), 2)
            lo = round(p50 * rng.uniform(0.5, 1.0), 2)
            hi = round(p50 * rng.uniform(1.0, 2.5), 2)
            inf50 = round((_COST_BASE[kind] / 2) * scale * rng.uniform(0.5, 2.0), 2)
            inf75 = round(inf50 * rng.uniform(1.05, 1.8), 2)
            tot50 = round(inf50 + rng.uniform(0.1, 20.0), 2)
            tot75 = round(max(tot50, inf75) * rng.uniform(1.05, 1.6), 2)
            key = cap if res is None else f"{cap}:{res}"
            keys.append(key)
            v: dict[str, Any] = {
                "capability": cap,
                "computedAt": c.iso_between(f.created, f.updated),
                "variantKey": key,
            }
            if f.privacy == "public" and rng.random() < 0.35:
                a = _generic(_ARENA_FIELDS, c)
                rating = round(rng.uniform(900, 1350), 1)
                half = round(rng.uniform(3, 25), 1)
                a.update(
                    arenaCategory={
                        "video": _ARENA["txt"],
                        "audio": _ARENA["aud"],
                        "3d": _ARENA["3d"],
                    }.get(kind, _ARENA["img"]),
                    rank=rng.randint(1, 120),
                    rating=rating,
                    ratingLower=round(rating - half, 1),
                    ratingUpper=round(rating + half, 1),
                    votes=rng.randint(50, 40000),
                )
                v["arenaScore"] = a
            if rng.random() < 0.95:
                v.update(
                    costPerAssetMaxCU=hi,
                    costPerAssetMinCU=lo,
                    costPerAssetP50CU=p50,
                    inferenceLatencyP50Sec=inf50,
                    inferenceLatencyP75Sec=inf75,
                )
            if res is not None:
                v["resolution"] = res
            v.update(totalLatencyP50Sec=tot50, totalLatencyP75Sec=tot75)
            variants.append(v)
    c.variant_keys = keys
    out: dict[str, Any] = {"variants": variants}
    if keys:
        out["default"] = rng.choice(keys)
    return out


def _input_required(c: _Ctx, others: list[str]) -> dict[str, Any]:
    rng = c.rng
    other = rng.choice(others) if others else "prompt"
    choice = rng.randint(0, 4)
    if choice == 0:
        req: dict[str, Any] = {"always": True}
    elif choice == 1:
        req = {"ifDefined": {other: f"{other} needs this input too"}}
    elif choice == 2:
        req = {"ifNotDefined": {other: f"give this input or {other}"}}
    elif choice == 3:
        req = {
            "always": False,
            "conditionalValues": {other: {"operation": "in", "values": ["hd", 2]}},
        }
    else:  # today's form (scenario-sdk 2.4): values per input, combined by an operator
        req = {"conditional": {"values": {other: ["hd", 2]}}}
        if rng.random() < 0.7:
            req["conditional"]["operator"] = rng.choice(schema.CONDITION_OPERATORS)
    if c.f.drift and rng.random() < 0.3:
        req["unlessAll"] = [other]  # a rule no release lists
    return req


def _one_input(c: _Ctx, itype: str, name: str, others: list[str], depth: int = 0) -> dict[str, Any]:
    """One input of a custom model, with the properties that type supports."""
    rng = c.rng
    inp: dict[str, Any] = {"name": name, "type": itype}
    common = {
        "label": name.replace("_", " ").title() + rng.choice(("", " ✨", " (é)")),
        "description": rng.choice(_SENTENCES),
        "hint": rng.choice(_SENTENCES),
        "group": rng.choice(("basic", "advanced", "style")),
    }
    for k, v in common.items():
        if rng.random() < 0.8:
            inp[k] = v
    if rng.random() < 0.5:
        inp["required"] = _input_required(c, others)
    if rng.random() < 0.3:
        inp["costImpact"] = rng.random() < 0.5
    if itype == "string":
        inp.update(
            maxLength=rng.choice((200, 1000, 2000)),
            minLength=rng.choice((0, 1)),
            placeholder=c.prompt(),
            prompt=name.endswith("prompt"),
            promptSpark=rng.random() < 0.5,
        )
        if name == "color" or rng.random() < 0.1:
            inp["color"] = True
            inp["default"] = "#ff8800"
        elif rng.random() < 0.4:
            inp["allowedValues"] = ["square", "portrait", "landscape"]
            inp["default"] = "square"
        else:
            inp["default"] = c.prompt()
    elif itype == "number":
        lo = rng.choice((0, 1, -1))
        inp.update(min=lo, max=lo + rng.choice((10, 100, 4294967295)), step=rng.choice((1, 2, 5)))
        if rng.random() < 0.3:
            inp["allowedValues"] = [1, 2, 4, 8]
            inp["default"] = 4
        else:
            inp["default"] = round(rng.uniform(lo, lo + 10), 1)
    elif itype == "boolean":
        inp["default"] = rng.random() < 0.5
    elif itype in ("file", "file_array"):
        kind = rng.choice(schema.INPUT_KINDS)
        if c.f.drift and rng.random() < 0.3:
            kind = DRIFT_INPUT_KIND
        inp["kind"] = kind
        if kind in ("audio", "video") and rng.random() < 0.7:
            inp["minDuration"] = rng.choice((0.5, 1, 2))
            inp["maxDuration"] = rng.choice((10, 30, 60, 300))
        if kind == "image":
            inp["backgroundBehavior"] = rng.choice(schema.BACKGROUND_BEHAVIOR)
        inp["maxSize"] = rng.choice((10_485_760, 52_428_800, 209_715_200))
        inp["parent"] = rng.random() < 0.5
        if itype == "file_array":
            inp.update(min=0, max=rng.randint(2, 8))
        if name == "mask" or rng.random() < 0.2:
            inp["maskFrom"] = others[0] if others else "image"
        inp["default"] = None
    elif itype == "model":
        inp["default"] = c.other_model()
    elif itype == "model_array":
        inp["modelTypes"] = rng.sample(
            ("flux.1-lora", "flux.2-dev-lora", "qwen-image-lora", "zimage-lora"), 2
        )
        inp.update(max=rng.randint(1, 5), default=[])
    elif itype == "number_array":
        inp.update(min=-2, max=2, default=[1.0, 0.75])
    elif itype == "string_array":
        inp["allowedValues"] = ["red", "green", "blue", "blanc", "黒"]
        inp["default"] = ["red"]
    elif itype == "inputs_array":
        members = [
            _one_input(c, t, n, [], depth + 1)
            for t, n in (("string", "caption"), ("number", "weight"), ("file", "reference"))
        ]
        inp["inputs"] = members
        inp["default"] = [{"caption": "first shot", "weight": 1}]
        inp.update(min=0, max=4)
    return inp


def _inputs(c: _Ctx) -> Any:
    if c.f.type != "custom":
        return _ABSENT
    rng = c.rng
    order = list(schema.INPUT_TYPES)
    rng.shuffle(order)
    names: list[str] = []
    inputs = []
    for itype in order:
        base = {
            "string": "prompt",
            "number": "guidance",
            "boolean": "enhance",
            "file": "image",
            "file_array": "references",
            "model": "base_model",
            "model_array": "loras",
            "number_array": "lora_scales",
            "string_array": "styles",
            "inputs_array": "shots",
        }[itype]
        names.append(base)
        inputs.append(_one_input(c, itype, base, names[:-1]))
    # A mask file next to the image, a colour string and every JSON type as a default.
    inputs.append(_one_input(c, "file", "mask", ["image"]))
    inputs.append(_one_input(c, "string", "color", names))
    mixed = {
        "name": "mode",
        "type": "string",
        "allowedValues": [1, "a", True, None, {"k": 1}, [2, "b"], 2.5],
        "default": {"k": 1},
        "label": "Mode 🎛️",
    }
    inputs.append(mixed)
    c.input_names = [i["name"] for i in inputs]
    return inputs


def _parameters(c: _Ctx) -> Any:
    fam = _family(c.f.type)
    keys: tuple[str, ...]
    if fam == "voice":
        keys = (
            "age",
            "cloneType",
            "gender",
            "language",
            "removeBackgroundNoise",
            "voiceDescription",
        )
    elif c.f.type.startswith("sd-1_5"):
        keys = (
            "classPrompt",
            "conceptPrompt",
            "learningRate",
            "maxTrainSteps",
            "priorLossWeight",
            "randomCrop",
            "randomCropRatio",
            "randomCropScale",
            "scaleLr",
            "seed",
            "textEncoderTrainingRatio",
            "validationFrequency",
            "validationPrompt",
            "lrScheduler",
        )
    elif c.f.type.startswith("sd-xl"):
        keys = (
            "conceptPrompt",
            "learningRateUnet",
            "learningRateTextEncoder",
            "numTextTrainSteps",
            "numUNetTrainSteps",
            "lrScheduler",
            "rank",
            "seed",
            "priorLossWeight",
            "validationPrompt",
        )
    elif fam in ("lora", "edit-lora"):
        keys = (
            "batchSize",
            "conceptPrompt",
            "learningRate",
            "learningRateTextEncoder",
            "maxTrainSteps",
            "nbEpochs",
            "nbRepeats",
            "optimizeFor",
            "rank",
            "samplePrompts",
            "sampleSourceImages",
        )
    else:
        return _ABSENT
    out = {k: value_for(FIELDS[f"parameters.{k}"], c) for k in keys}
    if "samplePrompts" in out:
        out["sampleSourceImages"] = [c.asset() for _ in out["samplePrompts"]]
    if "learningRate" in out:
        out["learningRate"] = 0.0001 if fam in ("lora", "edit-lora") else 0.000005
    if c.rng.random() < 0.15:
        out["wandbKey"] = value_for(FIELDS["parameters.wandbKey"], c)
    return out


def _epochs(c: _Ctx) -> Any:
    if _family(c.f.type) not in ("lora", "edit-lora") or c.f.status != "trained":
        return _ABSENT
    rng = c.rng
    out = []
    for _ in range(rng.randint(1, 5)):
        ep = "".join(rng.choice("0123456789abcdef") for _ in range(12))
        c.epochs.append(ep)
        item: dict[str, Any] = {"epoch": ep}
        if rng.random() < 0.7:
            item["assets"] = [
                {"assetId": c.asset(), "url": c.url()} for _ in range(rng.randint(0, 3))
            ]
        out.append(item)
    return out


def _concepts(c: _Ctx) -> Any:
    if _family(c.f.type) != "composition":
        return _ABSENT
    rng = c.rng
    out = []
    for _ in range(rng.randint(1, 4)):
        item = {"modelId": c.other_model(), "scale": round(rng.uniform(-2, 2), 2)}
        if rng.random() < 0.4:
            item["modelEpoch"] = f"{rng.randint(1, 30):06d}"
        out.append(item)
    return out


def _class(c: _Ctx) -> Any:
    if not c.f.type.startswith("sd-") or c.rng.random() < 0.4:
        return _ABSENT
    return _generic(_children("class"), c)


def _training_progress(c: _Ctx) -> Any:
    if c.f.status != "training":
        return _ABSENT
    rng = c.rng
    started = c.f.updated - rng.randint(60_000, 3_600_000)
    stage = rng.choice(schema.TRAINING_STAGES)
    out: dict[str, Any] = {"stage": stage, "updatedAt": c.f.updated}
    if rng.random() < 0.8:
        out.update(
            position=rng.randint(0, 40),
            progress=round(rng.random(), 3),
            remainingTimeMs=rng.randint(0, 3_600_000),
            startedAt=started,
        )
    if stage == "pending-captcha":  # voice cloning waits for the user to read a captcha
        out["captchaImageUrl"] = c.url("captcha")
    elif stage == "ready-for-captcha":  # ... and comes back here after a failed step
        out.update(
            retryableError=rng.choice(("captcha rejected", "time limit exceeded")),
            retryCount=rng.randint(1, 3),
        )
    if c.f.drift:
        out["gpuPool"] = rng.choice(("a100", "h100"))
    return out


def _training_stats(c: _Ctx) -> Any:
    if c.f.status != "trained" or _family(c.f.type) in (
        "base",
        "edit-base",
        "custom",
        "composition",
    ):
        return _ABSENT
    rng = c.rng
    queue = rng.randint(5, 900)
    train = rng.randint(300, 7200)
    start = c.f.created + queue * 1000
    out = {
        "endedAt": iso_ms(start + train * 1000),
        "queueDuration": queue,
        "startedAt": iso_ms(start),
        "trainDuration": train,
    }
    if rng.random() < 0.1:
        del out["endedAt"]
    return out


def _ui_config(c: _Ctx) -> Any:
    if c.f.type != "custom":
        return _ABSENT
    rng = c.rng
    names = c.input_names or ["prompt"]
    out: dict[str, Any] = {
        "inputProperties": {n: {"collapsed": rng.random() < 0.5} for n in names[:3]},
        "lorasComponent": {
            "label": "LoRAs",
            "modelInput": "loras",
            "scaleInput": "lora_scales",
            "modelIdInput": "base_model",
        },
        "presets": [
            {
                "fields": ["guidance", "enhance"],
                "presets": {"fast": [3, False], "quality": [7, True]},
            }
        ],
        "resolutionComponent": {
            "heightInput": "height",
            "label": "Taille",
            "widthInput": "width",
            "presets": [
                {"label": "Square", "width": 1024, "height": 1024},
                {"label": "Portrait 📱", "width": 768, "height": 1344},
            ],
        },
        "selects": {"styles": {"multiple": True}},
        "triggerGenerate": (
            {"label": "Generate", "after": rng.choice(names)}
            if rng.random() < 0.5
            else {"label": "Générer", "position": rng.choice(schema.TRIGGER_POSITIONS)}
        ),
    }
    if rng.random() < 0.3:
        out["outputProperties"] = {"video": {"label": "Video"}, "audio": {"label": "Bande son"}}
    for k in ("presets", "selects", "lorasComponent"):
        if rng.random() < 0.2:
            del out[k]
    return out


def _training_images(c: _Ctx) -> Any:
    if _family(c.f.type) not in ("lora", "edit-lora", "sd-lora", "voice") or c.rng.random() < 0.2:
        return _ABSENT
    out = []
    for _ in range(c.rng.randint(0, 3)):
        item = _generic(_children("trainingImages"), c)
        item["createdAt"] = c.iso_between(c.f.created - 3_600_000, c.f.created)
        out.append(item)
    return out


def _training_pairs(c: _Ctx) -> Any:
    if _family(c.f.type) != "edit-lora":
        return _ABSENT
    return [_generic(_children("trainingImagePairs"), c, 0.9) for _ in range(c.rng.randint(0, 3))]


def _thumbnail(c: _Ctx) -> Any:
    if c.rng.random() < 0.15:
        return _ABSENT
    return {"assetId": c.asset(), "url": c.url("thumbnails")}


def _opt(p: float) -> Any:
    """A builder that emits the schema-derived value with probability p."""

    def build(c: _Ctx, fld: Field) -> Any:
        if c.rng.random() >= p:
            return _ABSENT
        return value_for(fld, c)

    return build


def _source(c: _Ctx) -> str:
    if c.f.type == "custom" or _family(c.f.type) == "base":
        return "scenario" if c.rng.random() < 0.7 else c.rng.choice(("huggingface", "other"))
    return c.rng.choice(("scenario", "scenario", "scenario", "civitai", "huggingface", "other"))


def _soft_deletion(c: _Ctx) -> Any:
    if c.f.privacy == "public" or c.rng.random() < 0.8:
        return _ABSENT
    return iso_ms(c.f.updated + c.rng.randint(30, 90) * _DAY_MS)


def _compliant(c: _Ctx) -> Any:
    if _family(c.f.type) not in ("lora", "edit-lora") or not c.f.type.startswith("flux"):
        return _ABSENT
    return ["flux.1-dev", "flux.1-schnell"] if c.f.type.startswith("flux.1") else ["flux.2-dev"]


def _disable_refund(c: _Ctx) -> Any:
    """Set on some custom models (mostly true), rarely elsewhere."""
    p = 0.3 if c.f.type == "custom" else 0.03
    return c.rng.random() < 0.8 if c.rng.random() < p else _ABSENT


def _job_id(c: _Ctx) -> Any:
    """The training job, shown to the owner only: on most trained or training private models."""
    if c.f.privacy == "public" or c.f.status not in ("trained", "training", "failed"):
        return _ABSENT
    if _family(c.f.type) in ("base", "edit-base") or c.rng.random() < 0.2:
        return _ABSENT
    return _rid(c.rng, "job_")


_LEAF_BUILDERS: dict[str, Any] = {
    "id": lambda c, f: c.f.id,
    "capabilities": lambda c, f: _capabilities(c),
    "createdAt": lambda c, f: iso_ms(c.f.created),
    "custom": lambda c, f: c.f.type == "custom",
    "exampleAssetIds": lambda c, f: value_for(f, c),
    "privacy": lambda c, f: c.f.privacy,
    "source": lambda c, f: _source(c),
    "status": lambda c, f: c.f.status,
    "type": lambda c, f: c.f.type,
    "updatedAt": lambda c, f: iso_ms(c.f.updated),
    "trainingImagesNumber": lambda c, f: (
        0 if _family(c.f.type) in ("base", "edit-base", "custom") else c.rng.randint(3, 60)
    ),
    "accessRestrictions": _opt(0.5),
    "authorId": _opt(0.9),
    "compliantModelIds": lambda c, f: _compliant(c),
    "epoch": lambda c, f: c.rng.choice(c.epochs) if c.epochs and c.rng.random() < 0.5 else _ABSENT,
    "modelKeyword": _opt(0.1),
    "name": _opt(0.97),
    "negativePromptEmbedding": _opt(0.05),
    "ownerId": _opt(0.9),
    "parentModelId": _opt(0.1),
    "promptEmbedding": _opt(0.05),
    "shortDescription": _opt(0.6),
    "softDeletionOn": lambda c, f: _soft_deletion(c),
    "userId": _opt(0.3),
    "deletedAt": lambda c, f: _ABSENT,  # only on deleted models, which the demo never lists
    "disableRefund": lambda c, f: _disable_refund(c),
    "jobId": lambda c, f: _job_id(c),
}
_OBJECT_BUILDERS: dict[str, Any] = {
    "class": _class,
    "concepts": _concepts,
    "epochs": _epochs,
    "inputs": _inputs,
    "parameters": _parameters,
    "performanceStats": _performance,
    "thumbnail": _thumbnail,
    "trainingImagePairs": _training_pairs,
    "trainingImages": _training_images,
    "trainingProgress": _training_progress,
    "trainingStats": _training_stats,
    "uiConfig": _ui_config,
}
# Builders that others depend on run first (capabilities -> variants, epochs -> epoch...).
_FIRST = ("capabilities", "epochs", "inputs", "trainingImages")


def build_record(
    seed: int,
    index: int,
    *,
    drift: bool = False,
    blacklist_rate: float = 0.0,
    types: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """The full API record of one model: a pure function of (seed, index, drift)."""
    f = facts(seed, index, drift=drift, blacklist_rate=blacklist_rate, types=types)
    return _record_from_facts(seed, f)


def _record_from_facts(seed: int, f: Facts) -> dict[str, Any]:
    c = _Ctx(seed, f)
    built: dict[str, Any] = {}
    for key in _FIRST:
        node = NODES[key]
        built[key] = (
            _LEAF_BUILDERS[key](c, node) if isinstance(node, Field) else _OBJECT_BUILDERS[key](c)
        )
    rec: dict[str, Any] = {}
    for node in schema.MODEL.fields:
        key = node.key
        if key in built:
            val = built[key]
        elif isinstance(node, Field):
            b = _LEAF_BUILDERS.get(key)
            val = b(c, node) if b else value_for(node, c)
        else:
            b = _OBJECT_BUILDERS.get(key)
            val = b(c) if b else _generic(node.fields, c)
        if val is not _ABSENT and val is not None:
            rec[key] = val
    if f.drift:
        _add_drift(rec, c)
    return rec


# Optional top-level keys a drift record may write as an explicit null when it has no value.
_NULLABLE = (
    "epoch",
    "modelKeyword",
    "negativePromptEmbedding",
    "parentModelId",
    "promptEmbedding",
    "shortDescription",
    "softDeletionOn",
    "thumbnail",
    "uiConfig",
)


def _add_drift(rec: dict[str, Any], c: _Ctx) -> None:
    """What no release lists yet (the API grows): unknown fields of every JSON type at the top
    level and nested, and absent optional fields written as explicit nulls on some records."""
    rng = c.rng
    rec["licensing"] = {
        "license": rng.choice(("cc-by-4.0", "proprietary")),
        "commercialUse": True,
        "attribution": {"required": rng.random() < 0.5},
        "regions": ["eu", "us"],
    }
    rec["popularity"] = round(rng.uniform(0, 100), 3)
    rec["downloads"] = rng.randint(0, 100_000)
    rec["featured"] = rng.random() < 0.2
    rec["badges"] = rng.sample(("new", "hot", "staff-pick", "trending"), rng.randint(0, 2))
    rec["moderation"] = None if rng.random() < 0.5 else {"state": "approved", "score": 0.02}
    for v in rec.get("performanceStats", {}).get("variants", []):
        v["energyWh"] = round(rng.uniform(0.1, 5.0), 3)
    for e in rec.get("epochs", []):
        for a in e.get("assets", []):
            a["width"] = 1024
    if "thumbnail" in rec:
        rec["thumbnail"]["blurhash"] = "LEHV6nWB2yk8pyo0adR*.7kCMdnj"
    if "class" in rec:
        rec["class"]["sortOrder"] = rng.randint(0, 50)
    if "parameters" in rec and rng.random() < 0.5:
        rec["parameters"]["ditherSchedule"] = [0.1, 0.5, None]
    if rng.random() < 0.4:
        for key in _NULLABLE:
            if key not in rec and rng.random() < 0.5:
                rec[key] = None


def make_records(
    n: int,
    seed: int = 0,
    drift: bool = False,
    start: int = 0,
    *,
    types: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """``n`` API-shaped model records (camelCase) for indices ``start .. start+n-1``."""
    t = tuple(types) if types is not None else None
    return [build_record(seed, i, drift=drift, types=t) for i in range(start, start + n)]


# ---------------------------------------------------------------------------------------------
# The mutable catalog served by the demo server
# ---------------------------------------------------------------------------------------------


def _deep_merge(base: dict[str, Any], changes: Mapping[str, Any]) -> None:
    for k, v in changes.items():
        if isinstance(v, Mapping) and isinstance(base.get(k), dict):
            _deep_merge(base[k], v)
        else:
            base[k] = copy.deepcopy(v)


class DemoCatalog:
    """A lazily generated catalog of ``size`` models that tests can add to, remove from and edit.

    Indices ``0 .. size-1`` exist at the start; ``add_models`` appends new indices (created
    after every existing model).  Changes are kept as small overlays, so the untouched
    records stay pure functions of (seed, index).  All methods are thread-safe.
    """

    def __init__(
        self,
        size: int = 2000,
        seed: int = 0,
        drift: bool = False,
        blacklist_rate: float = 0.0,
        types: Iterable[str] | None = None,
    ) -> None:
        if not 0 <= size <= 10_000_000:
            raise ValueError("catalog size must be between 0 and 10,000,000")
        self.seed = seed
        self.drift = drift
        self.blacklist_rate = blacklist_rate
        self.types = tuple(types) if types is not None else None
        _type_table(self.types)
        self._lock = threading.RLock()
        self._end = size  # next index to hand out
        self._removed: set[int] = set()
        self._changes: dict[int, dict[str, Any]] = {}
        self._updated: dict[int, int] = {}
        self.version = 0  # bumped on every mutation (caches of derived orders key on it)
        self._facts_cache: dict[int, Facts] = {}
        self._id_cache: dict[int, str] = {}  # model ids (pure functions of seed, index)
        self._privacy_cache: dict[int, str] = {}  # untouched privacies, likewise

    # -- reading ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._end - len(self._removed)

    def index_of(self, mid: str) -> int | None:
        """The index of a model id of this catalog (removed ones too), or None."""
        i = index_of(self.seed, mid)
        return i if i is not None and i < self._end else None

    def facts(self, index: int) -> Facts:
        """Filter/sort facts of one model, overlays applied."""
        f = self._facts_cache.get(index)
        if f is not None:
            return f
        f = facts(
            self.seed, index, drift=self.drift, blacklist_rate=self.blacklist_rate, types=self.types
        )
        if index in self._updated or index in self._changes:
            ch = self._changes.get(index, {})
            kw: dict[str, Any] = {k: ch[k] for k in ("privacy", "status", "type") if k in ch}
            if index in self._updated:
                kw["updated"] = self._updated[index]
            if "tags" in ch:
                kw["tags"] = tuple(ch["tags"])
            if "collectionIds" in ch:
                kw["collections"] = tuple(ch["collectionIds"])
            f = dataclasses.replace(f, **kw)
        if len(self._facts_cache) > 2_000_000:
            self._facts_cache.clear()
        self._facts_cache[index] = f
        return f

    def record(self, index: int) -> dict[str, Any]:
        """The full record of one model, overlays applied.

        The record is generated from the untouched facts and the changes are merged on top,
        so an update changes only what it names (and updatedAt).
        """
        ch = self._changes.get(index)
        if ch or index in self._updated:
            base = facts(
                self.seed,
                index,
                drift=self.drift,
                blacklist_rate=self.blacklist_rate,
                types=self.types,
            )
        else:
            base = self.facts(index)
        rec = _record_from_facts(self.seed, base)
        if ch:
            _deep_merge(rec, ch)
        if index in self._updated:
            rec["updatedAt"] = iso_ms(self._updated[index])
        return rec

    def is_plain(self, index: int) -> bool:
        """True when the record has no overlay (its serialized form can be cached forever)."""
        return index not in self._changes and index not in self._updated

    def indices(self) -> Iterator[int]:
        """Every live index, in creation order."""
        for i in range(self._end):
            if i not in self._removed:
                yield i

    def ids(self) -> list[str]:
        """Every live model id, in index order."""
        return [self.facts(i).id for i in self.indices()]

    def records(self) -> Iterator[dict[str, Any]]:
        """Every live record, in index order (for tests and small catalogs)."""
        for i in self.indices():
            yield self.record(i)

    # -- mutating ---------------------------------------------------------------------------

    def _touch_ms(self) -> int:
        """Now in epoch ms, strictly after every updatedAt handed out so far."""
        return max(int(time.time() * 1000), max(self._updated.values(), default=0) + 1)

    def add_models(self, n: int) -> list[str]:
        """Append n new models, created strictly after every existing one and updated now; returns ids.

        When the next index would share its creation time with the last existing model, the
        rest of that tie group is skipped (those indices never exist), so an incremental
        listing with ``createdAfter`` = the newest known ``createdAt`` sees every new model.
        """
        with self._lock:
            start = self._end
            if start > 0 and created_ms(start) == created_ms(start - 1):
                skip = tie_group(start).stop
                self._removed.update(range(start, skip))
                start = skip
            self._end = start + n
            # A new model was just touched: its updatedAt is now, so updatedAfter listings
            # (incremental refresh) see it like the real service would.
            now = self._touch_ms()
            for i in range(start, start + n):
                self._updated[i] = now
            self.version += 1
            return [model_id(self.seed, i) for i in range(start, start + n)]

    def _resolve(self, ids: Iterable[str]) -> list[int]:
        out = []
        for mid in ids:
            i = self.index_of(mid)
            if i is None or i in self._removed:
                raise KeyError(f"no model {mid!r} in this catalog")
            out.append(i)
        return out

    def remove(self, ids: Iterable[str]) -> None:
        """Delete models by id (they vanish from every listing)."""
        with self._lock:
            for i in self._resolve(list(ids)):
                self._removed.add(i)
                self._facts_cache.pop(i, None)
            self.version += 1

    def update(self, ids: Iterable[str], changes: Mapping[str, Any] | None = None) -> None:
        """Edit models: updatedAt becomes now (strictly later each call), changes deep-merged.

        ``changes`` is a partial record, e.g. ``{"name": "New"}``; a ``"variants_cost"`` key
        is a shortcut that multiplies every variant cost of the models by that factor.
        """
        with self._lock:
            idx = self._resolve(list(ids))
            now = self._touch_ms()
            for i in idx:
                self._updated[i] = now
                if changes:
                    ch = dict(changes)
                    factor = ch.pop("variants_cost", None)
                    merged = self._changes.setdefault(i, {})
                    _deep_merge(merged, ch)
                    if factor is not None:
                        base = self.record(i)
                        ps = copy.deepcopy(
                            merged.get("performanceStats") or base.get("performanceStats")
                        )
                        if ps:
                            for v in ps["variants"]:
                                for k in (
                                    "costPerAssetMinCU",
                                    "costPerAssetP50CU",
                                    "costPerAssetMaxCU",
                                ):
                                    if k in v:
                                        v[k] = round(v[k] * factor, 2)
                            merged["performanceStats"] = ps
                self._facts_cache.pop(i, None)
            self.version += 1

    # -- cheap per-index lookups, overlays applied ------------------------------------------

    def model_id(self, index: int) -> str:
        """The id of model ``index`` (a pure function of seed and index), memoised.

        Listings sort tie groups and compare keyset positions by id, so the same ids are
        asked for again and again; computing one costs a few microseconds of hashing.
        """
        mid = self._id_cache.get(index)
        if mid is None:
            mid = model_id(self.seed, index)
            if len(self._id_cache) > 2_000_000:
                self._id_cache.clear()
            self._id_cache[index] = mid
        return mid

    @property
    def lock(self) -> threading.RLock:
        """The lock every mutation holds; hold it to read several things without a change between."""
        return self._lock

    @property
    def end(self) -> int:
        """One past the highest index handed out so far (removed indices included)."""
        return self._end

    def updated_ms(self, index: int) -> int:
        """``updatedAt`` of a model in epoch ms: the last update made here, else the generated one."""
        u = self._updated.get(index)
        return u if u is not None else updated_of(self.seed, index)

    def live_with_privacy(self, indices: Iterable[int], privacies: frozenset[str]) -> Iterator[int]:
        """The indices among ``indices`` that are live and have one of ``privacies``, in order.

        An overlaid privacy wins over the generated one; generated privacies are memoised,
        since the same indices are checked again for every page of a listing.
        """
        seed = self.seed
        removed, changes, cached = self._removed, self._changes, self._privacy_cache
        for i in indices:
            if i in removed:
                continue
            if i in changes and "privacy" in changes[i]:
                if changes[i]["privacy"] in privacies:
                    yield i
                continue
            p = cached.get(i)
            if p is None:
                p = privacy_of(seed, i)
                if len(cached) > 2_000_000:
                    cached.clear()
                cached[i] = p
            if p in privacies:
                yield i
