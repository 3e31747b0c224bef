"""Settings a user can edit: ``<data-dir>/settings.yml``, declared once in ``sql/catalog/settings.yml``.

The declaration gives every setting its name, type, unit, default, allowed range and meaning, and
the fixed constants (BOE factor, days per year) their value. From it:

* :func:`load` reads ``<data-dir>/settings.yml`` — written with the defaults, each line commented
  with what it means and what is allowed, when it does not exist yet — and validates it: an unknown
  key, a value of the wrong type or out of range, a repeated key, a file that is not YAML are each a
  :class:`SettingsError` naming the file, the line, the key and what is allowed;
* :func:`record` writes the values in force into ``metadata.transform_settings`` (scalars, with
  unit and where each came from) and ``metadata.oil_differentials`` (the per-basin map): every run
  does this on its build before the notebooks, so the warehouse records what the run used and the
  SQL models read it through ``staging.stg_settings``;
* :meth:`Settings.manifest` is what the run manifest records; ``basinlab settings`` prints
  :func:`describe`.
"""
from __future__ import annotations

import difflib
import math
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from . import catalog

SETTINGS_FILE = "settings.yml"
DEFAULT, OVERRIDE = "default", "override"
CURRENCY_RE = re.compile(r"^[A-Za-z]{3}$")
TYPES = ("currency", "number", "integer", "map")


class SettingsError(ValueError):
    """A settings file or value that cannot be used; the message names the file, line, key and what is allowed."""


@dataclass(frozen=True)
class SettingSpec:
    name: str
    type: str
    unit: str
    default: Any
    description: str
    min: float | None = None
    max: float | None = None

    @property
    def scalar(self) -> bool:
        return self.type != "map"

    def allowed(self) -> str:
        rng = ""
        if self.min is not None or self.max is not None:
            lo = "" if self.min is None else _num(self.min)
            hi = "" if self.max is None else _num(self.max)
            rng = f" from {lo} to {hi}" if lo and hi else (f" >= {lo}" if lo else f" <= {hi}")
        what = {"currency": "a 3-letter ISO 4217 currency code (USD, CAD, EUR, …)",
                "number": "a number" + rng, "integer": "a whole number" + rng,
                "map": f"a mapping of names to numbers{rng} (e.g. {{Midland: 2.0}})"}[self.type]
        return f"{what} ({self.unit})" if self.unit and self.type != "currency" else what

    def parse(self, value: Any, where: str) -> Any:
        """The value as the declaration types it; :class:`SettingsError` naming ``where`` otherwise."""
        def bad(why: str) -> SettingsError:
            return SettingsError(f"{where}: {self.name}: {why} "
                                 f"(allowed: {self.allowed()}; default {_show(self.default)})")

        if value is None:
            raise bad("has no value — give one, or delete the line to use the default")
        if self.type == "currency":
            if not isinstance(value, str) or not CURRENCY_RE.match(value.strip()):
                raise bad(f"{value!r} is not a currency code")
            return value.strip().upper()
        if self.type == "map":
            if not isinstance(value, dict):
                raise bad(f"{_show(value)} is not a mapping")
            out = {}
            for k, v in value.items():
                if not isinstance(k, str) or not k.strip():
                    raise bad(f"the name {k!r} is not a text name")
                out[k.strip()] = self._number(v, lambda why, k=k: bad(f"{k}: {why}"), integer=False)
            return out
        return self._number(value, bad, integer=self.type == "integer")

    def _number(self, value: Any, bad, integer: bool) -> float | int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad(f"{_show(value)} is not a {'whole number' if integer else 'number'}")
        if not math.isfinite(value):
            raise bad(f"{value} is not a finite number")
        if integer and float(value) != int(value):
            raise bad(f"{value} is not a whole number")
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise bad(f"{_num(value)} is out of range")
        return int(value) if integer else float(value)

    def to_text(self, value: Any) -> str:
        """The value as ``metadata.transform_settings.value`` holds it."""
        return str(value) if self.type in ("currency", "integer") else repr(float(value))


@dataclass(frozen=True)
class Constant:
    name: str
    value: float
    unit: str
    description: str


def _num(x: float) -> str:
    return repr(float(x)) if not float(x).is_integer() or isinstance(x, float) else str(int(x))


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    return repr(value) if isinstance(value, str) else str(value)


def declared(sql_dir: str | Path | None = None) -> dict[str, SettingSpec]:
    """The settings as declared in ``sql/catalog/settings.yml``, in declared order."""
    doc = catalog.documents(sql_dir).get("settings") or {}
    out = {}
    for name, d in (doc.get("settings") or {}).items():
        if d.get("type") not in TYPES:
            raise catalog.CatalogError(f"sql/catalog/settings.yml: {name}: type must be one of {', '.join(TYPES)}")
        spec = SettingSpec(str(name), d["type"], str(d.get("unit") or ""), d.get("default"),
                           " ".join(str(d.get("description", "")).split()), d.get("min"), d.get("max"))
        spec.parse(spec.default, "sql/catalog/settings.yml (the declared default)")
        out[spec.name] = spec
    return out


def constants(sql_dir: str | Path | None = None) -> dict[str, Constant]:
    """The fixed constants (``{{ const.<name> }}`` in SQL)."""
    doc = catalog.documents(sql_dir).get("settings") or {}
    return {str(n): Constant(str(n), float(d["value"]), str(d.get("unit") or ""),
                             " ".join(str(d.get("description", "")).split()))
            for n, d in (doc.get("constants") or {}).items()}


def constant(name: str) -> float:
    return constants()[name].value


@dataclass
class Settings:
    """The settings in force: values and where each came from (``default``, ``<file> line N``, ``override``)."""

    values: dict[str, Any]
    sources: dict[str, str]
    path: Path | None = None
    created: bool = False
    notes: list[str] = field(default_factory=list)

    def with_overrides(self, overrides: dict[str, Any] | None, where: str = OVERRIDE) -> Settings:
        """A copy with ``overrides`` (validated like the file; unknown keys refused)."""
        if not overrides:
            return self
        specs = declared()
        values, sources = dict(self.values), dict(self.sources)
        for key, value in overrides.items():
            spec = _spec(specs, key, where)
            values[key] = spec.parse(value if not isinstance(value, str) or spec.type == "currency"
                                     else _coerce_text(value), where)
            sources[key] = OVERRIDE
        return Settings(values, sources, self.path, self.created, list(self.notes))

    def manifest(self) -> dict[str, Any]:
        """What the run manifest records: every setting's value and source."""
        return {"file": str(self.path) if self.path else None,
                "values": {k: v for k, v in self.values.items()},
                "sources": dict(self.sources)}


def _coerce_text(value: str) -> Any:
    """A number given as text by a library caller ("0.9") — the file itself must hold numbers."""
    try:
        return int(value) if re.fullmatch(r"[-+]?\d+", value.strip()) else float(value)
    except ValueError:
        return value


def _spec(specs: dict[str, SettingSpec], key: Any, where: str) -> SettingSpec:
    if key in specs:
        return specs[key]
    close = [n for n in specs if str(key) and n.startswith(str(key))] or \
        difflib.get_close_matches(str(key), list(specs), n=1)
    hint = f" — did you mean {close[0]}?" if close else ""
    raise SettingsError(f"{where}: unknown setting {key!r}{hint} (known: {', '.join(specs)})")


def defaults() -> Settings:
    specs = declared()
    return Settings({k: s.default if s.type != "currency" else str(s.default).upper() for k, s in specs.items()},
                    {k: DEFAULT for k in specs})


def default_text() -> str:
    """The settings file as written on the first run: every setting at its default, commented."""
    lines = ["# basinlab settings. Edit a value and save: the next `basinlab run` uses it and records it",
             "# (metadata.transform_settings, the run manifest); `basinlab settings` shows what is in force.",
             "# Delete a line to go back to its default. Declared in basinlab's sql/catalog/settings.yml.", ""]
    for spec in declared().values():
        words = spec.description.split()
        lines += _wrap(words, "# ")
        lines.append(f"# allowed: {spec.allowed()}; default {_show(spec.default)}")
        if spec.type == "map":
            lines.append(f"{spec.name}:")
            lines += [f"  {k}: {_num(v)}" for k, v in spec.default.items()]
        else:
            lines.append(f"{spec.name}: {spec.default if spec.type != 'number' else _num(spec.default)}")
        lines.append("")
    return "\n".join(lines)


def _wrap(words: list[str], prefix: str, width: int = 98) -> list[str]:
    out, cur = [], prefix
    for w in words:
        if len(cur) + len(w) + 1 > width and cur.strip() != prefix.strip():
            out.append(cur.rstrip())
            cur = prefix
        cur += w + " "
    if cur.strip() != prefix.strip():
        out.append(cur.rstrip())
    return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """Refuses a key given twice (PyYAML would keep the last one silently)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise SettingsError(f"line {line}: {key} is given twice (first on line {seen[key]}); keep one")
        seen[key] = line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_file(path: Path) -> Settings:
    """Validate ``path`` and return the settings it gives (defaults for what it leaves out)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SettingsError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except SettingsError as exc:
        raise SettingsError(f"{path}, {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f", line {mark.line + 1}" if mark else ""
        raise SettingsError(f"{path}{at}: not valid YAML ({getattr(exc, 'problem', None) or exc}); "
                            "each line is `name: value`") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected `name: value` lines, found {type(data).__name__}")
    lines = {k.value: k.start_mark.line + 1 for k, _ in node.value} if isinstance(node, yaml.MappingNode) else {}
    s = defaults()
    specs = declared()
    for key, value in data.items():
        where = f"{path}, line {lines.get(key, '?')}"
        spec = _spec(specs, key, where)
        s.values[key] = spec.parse(value, where)
        s.sources[key] = f"{path} line {lines.get(key, '?')}"
    s.path = path
    return s


def load(data_dir: str | Path, create: bool = True) -> Settings:
    """The settings in force for a data dir: ``<data_dir>/settings.yml``, written with the defaults when
    missing (and ``create``; a read-only data dir gets the defaults and a note)."""
    path = Path(data_dir) / SETTINGS_FILE
    if path.exists():
        return read_file(path)
    s = defaults()
    s.path = path
    if create:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{SETTINGS_FILE}.{os.getpid()}.tmp")
            tmp.write_text(default_text(), encoding="utf-8")
            os.replace(tmp, path)
            s.created = True
            s.notes.append(f"wrote {path} with the default settings: edit it to change them")
        except OSError as exc:
            path.with_name(f".{SETTINGS_FILE}.{os.getpid()}.tmp").unlink(missing_ok=True)
            s.notes.append(f"{path} does not exist and cannot be written ({exc.strerror or exc}): using the defaults")
    return s


def record(con, s: Settings) -> None:
    """Write ``s`` into ``metadata.transform_settings`` and ``metadata.oil_differentials`` (the run's record)."""
    specs = declared()
    now = datetime.now()
    for name, spec in specs.items():
        if not spec.scalar:
            continue
        con.execute(
            """insert into metadata.transform_settings (setting, value, description, unit, source, recorded_at)
               values (?, ?, ?, ?, ?, ?)
               on conflict (setting) do update set value = excluded.value, description = excluded.description,
                   unit = excluded.unit, source = excluded.source, recorded_at = excluded.recorded_at""",
            [name, spec.to_text(s.values[name]), spec.description, spec.unit, s.sources.get(name, DEFAULT), now])
    names = [n for n, sp in specs.items() if sp.scalar]
    con.execute("delete from metadata.transform_settings where setting not in (select unnest(?::varchar[]))", [names])
    for name, spec in specs.items():
        if spec.scalar:
            continue
        table = "metadata.oil_differentials"  # the one map setting (a second would declare its own table)
        mapping = s.values[name]
        con.execute(f"delete from {table} where basin not in (select unnest(?::varchar[]))", [list(mapping)])
        for basin, diff in mapping.items():
            con.execute(f"""insert into {table} (basin, differential_usd_per_bbl, description, source)
                            values (?, ?, ?, ?)
                            on conflict (basin) do update
                            set differential_usd_per_bbl = excluded.differential_usd_per_bbl,
                                source = excluded.source""",
                        [basin, float(diff), f"setting {name}", s.sources.get(name, DEFAULT)])


def ensure_recorded(con) -> None:
    """Fill what a warehouse's settings tables lack (a setting with no row takes its default), keeping
    every value already recorded: a library call that never loaded a settings file still finds a
    complete record."""
    specs = declared()
    have = {r[0] for r in con.execute("select setting from metadata.transform_settings").fetchall()}
    now = datetime.now()
    for name, spec in specs.items():
        if spec.scalar and name not in have:
            con.execute("insert into metadata.transform_settings (setting, value, description, unit, source, "
                        "recorded_at) values (?, ?, ?, ?, ?, ?)",
                        [name, spec.to_text(spec.parse(spec.default, "default")), spec.description, spec.unit,
                         DEFAULT, now])
    for name, spec in specs.items():
        if spec.scalar:
            con.execute("update metadata.transform_settings set description = coalesce(description, ?), "
                        "unit = coalesce(unit, ?), source = coalesce(source, ?) where setting = ?",
                        [spec.description, spec.unit, DEFAULT, name])


def describe(s: Settings) -> list[str]:
    """Lines for ``basinlab settings``: each setting, its value, unit, where it came from; then the constants."""
    specs = declared()
    out = [f"settings in force ({s.path}):" if s.path else "settings in force:"]
    width = max(len(n) for n in specs)
    for name, spec in specs.items():
        value, src = s.values[name], s.sources.get(name, DEFAULT)
        if spec.type == "map":
            out.append(f"  {name:{width}s}  {'':>14s} {spec.unit:14s} from {src}")
            out += [f"    {k:{width - 2}s}  {_num(v):>14s}" for k, v in value.items()]
        else:
            shown = value if isinstance(value, str) else _num(value) if spec.type == "number" else str(value)
            out.append(f"  {name:{width}s}  {shown:>14s} {spec.unit:14s} from {src}")
    out.append("constants (fixed in the code):")
    for c in constants().values():
        out.append(f"  {c.name:{width}s}  {_num(c.value):>14s} {c.unit:14s} {c.description}")
    return out


__all__ = ["Constant", "DEFAULT", "OVERRIDE", "SETTINGS_FILE", "SettingSpec", "Settings", "SettingsError",
           "constant", "constants", "declared", "default_text", "defaults", "describe", "ensure_recorded", "load",
           "read_file", "record"]
