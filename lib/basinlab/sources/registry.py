"""The source kinds, as declared in ``sql/catalog/kinds.yml``: which adapter reads each and where it lands.

A kind is an inbox folder (``<data-dir>/inbox/<kind>/``) or, with ``inbox: false``, a feed the
runner carries in from another folder of the data dir (the EIA series as received). Adding a kind is
adding its entry to ``kinds.yml`` and, unless the generic file adapter reads it, one adapter module:
a function ``(path, window) -> SourceRead`` named as ``adapter: sources.<module>:<function>``.
Ingest dispatches on what the declaration says, never on a kind's name.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import catalog
from .canonical import KINDS as FILE_KINDS
from .canonical import KindSpec


@dataclass(frozen=True)
class Kind:
    name: str
    description: str
    adapter: str               # "sources.files" or "<module>:<function>" under basinlab
    tables: tuple[str, ...]
    order: int
    inbox: bool = True
    folder: str = ""           # relative to the data dir
    window_like: str | None = None

    @property
    def spec(self) -> KindSpec | None:
        """The SQL-validated layout (file kinds), None for a kind read by a Python adapter."""
        return FILE_KINDS.get(self.name)

    @property
    def window_spec(self) -> KindSpec | None:
        """The layout whose date window bounds this kind's dates (itself, or the kind named by ``like``)."""
        return self.spec or (FILE_KINDS.get(self.window_like) if self.window_like else None)

    def reader(self) -> Callable:
        """The adapter function ``(path, window) -> SourceRead`` (Python adapters only)."""
        module, _, func = self.adapter.partition(":")
        if not func:
            raise TypeError(f"kind {self.name} is read by {self.adapter}, not by a Python adapter function")
        return getattr(importlib.import_module(f"basinlab.{module}"), func)

    def path_in(self, data_dir: Path) -> Path:
        return Path(data_dir) / (self.folder or f"inbox/{self.name}")


def _load() -> dict[str, Kind]:
    decl = catalog.documents().get("kinds", {}).get("kinds") or {}
    out = {}
    for name, d in sorted(decl.items(), key=lambda kv: kv[1]["order"]):
        out[name] = Kind(name, " ".join(str(d.get("description", "")).split()), str(d["adapter"]),
                         tuple(d.get("tables") or ()), int(d["order"]), bool(d.get("inbox", True)),
                         str(d.get("folder") or ""), (d.get("window") or {}).get("like"))
    return out


#: every declared kind, in load order
KINDS: dict[str, Kind] = _load()


def get(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"unknown source kind {name!r} (declared in sql/catalog/kinds.yml: "
                       f"{', '.join(KINDS)})") from None


def inbox_kinds() -> list[Kind]:
    """The kinds that arrive as files in ``inbox/<kind>/``, in load order."""
    return [k for k in KINDS.values() if k.inbox]


__all__ = ["KINDS", "Kind", "get", "inbox_kinds"]
