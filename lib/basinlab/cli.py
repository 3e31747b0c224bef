"""The ``basinlab`` command line.

    basinlab demo   --wells N --months M --end-month YYYY-MM --seed S [--out DIR]
    basinlab run    --month YYYY-MM [--demo] [--data-dir D] [--reports-dir R]
    basinlab db     migrate|status|validate|docs|backup|restore|snapshots [--warehouse PATH] [--to DIR] [FROM]
    basinlab settings [--data-dir D]
    basinlab models [--mermaid] [--select NAME+ [--list]] [--warehouse PATH]
    basinlab check  [--month YYYY-MM] [--all]
    basinlab runs   [--last N] [--strict]
    basinlab backtest --cut YYYY-MM [--horizon N] [--phase oil] [--out DIR] [--warehouse PATH]
    basinlab lab    [--port P]
    basinlab serve  [--host H] [--port P] [--gl-interval S …]
    basinlab keys   create|list|revoke|rotate [--name N] [--permission read|write|admin]
    basinlab pull   gl --from URL [--follow] | eia [--series WTI,BRENT,HENRY_HUB]

Exit codes: 0 success, 1 the work failed (message on stderr), 2 bad usage.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import datetime
from pathlib import Path

from . import __version__, config


def _err(msg: str) -> None:
    print(f"basinlab: error: {msg}", file=sys.stderr)


def _month(value: str) -> str:
    try:
        config.parse_month(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _positive(value: str) -> int:
    n = int(value)
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {value}")
    return n


def _warehouse_arg(a: argparse.Namespace) -> tuple[config.Paths, Path]:
    """The data dir's paths and the warehouse a ``db`` action works on: ``--warehouse`` or the published file."""
    paths = config.Paths.resolve(a.data_dir)
    return paths, (Path(a.warehouse).expanduser().absolute() if a.warehouse else paths.warehouse)


def _open_read_only(a: argparse.Namespace):
    """``_warehouse_arg`` and a read-only connection to it; ``None`` for the connection after saying why
    (missing, locked, not a warehouse) in one line."""
    from . import warehouse

    paths, path = _warehouse_arg(a)
    try:
        return paths, path, warehouse.connect(path, read_only=True)
    except warehouse.WarehouseError as exc:
        _err(str(exc))
        return paths, path, None


def cmd_demo(a: argparse.Namespace) -> int:
    from .demo import generate_demo

    out = Path(a.out).resolve() if a.out else config.Paths.resolve(a.data_dir).inbox
    res = generate_demo(out, wells=a.wells, months=a.months, end_month=a.end_month, seed=a.seed,
                        progress=lambda s: print(f"  {s}"))
    for kind, path, rows in res.files:
        print(f"{kind:16s} {rows:>9,} rows  {path}")
    return 0


def cmd_run(a: argparse.Namespace) -> int:
    from .runner import RunError, run_month

    try:
        run_month(a.month, data_dir=a.data_dir, reports_dir=a.reports_dir, demo=a.demo,
                  demo_wells=a.wells, demo_months=a.months, demo_seed=a.seed,
                  full_refresh=a.full_refresh, refit_all=a.refit_all)
    except RunError as exc:
        _err(str(exc))
        return 1
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    """Re-render a month, quarter or year from the published warehouse (read-only), no chain."""
    from .report import ReportError
    from .runner import RunError, render_period

    try:
        render_period(a.period or a.month, data_dir=a.data_dir, reports_dir=a.reports_dir)
    except (ReportError, RunError, ValueError, OSError) as exc:
        _err(str(exc))
        return 1
    return 0


def cmd_db(a: argparse.Namespace) -> int:
    from . import warehouse

    extra = {"validate": cmd_db_validate, "docs": cmd_db_docs, "backup": cmd_db_backup, "restore": cmd_db_restore,
             "snapshots": cmd_db_snapshots}
    if a.action in extra:
        return extra[a.action](a)
    paths, path = _warehouse_arg(a)
    try:
        if a.action == "migrate":
            role = warehouse.published_role(path, [paths.data_dir])
            if role:
                _err(f"{path} is {role}: only the runner writes it, through a build that is checked and then "
                     "published, so `db migrate` refuses it. The next `basinlab run --month YYYY-MM` migrates a "
                     "copy and publishes it; use --warehouse for any other file")
                return 1
            con = warehouse.connect(path)
            try:
                applied = warehouse.migrate(con)
            finally:
                con.close()
            print(f"{path}: " + (", ".join(m.filename for m in applied) + " applied" if applied else "up to date"))
            return 0
        if not path.exists():
            import duckdb

            with duckdb.connect(":memory:") as mem:
                states = warehouse.migration_status(mem)
            print(f"{path} does not exist yet; every migration is pending:")
        else:
            con = warehouse.connect(path, read_only=True)
            try:
                states = warehouse.migration_status(con)
            finally:
                con.close()
            print(f"{path}:")
        for s in states:
            when = f"  applied {s.applied_at:%Y-%m-%d %H:%M}" if s.applied_at else ""
            print(f"  V{s.version:03d} {s.name:30s} {s.status:8s} {s.checksum[:12]}{when}")
        bad = [s for s in states if s.status in ("changed", "missing")]
        for s in bad:
            what = ("its file was changed after it was applied" if s.status == "changed"
                    else "it was applied but its file is missing from sql/migrations/")
            _err(f"V{s.version:03d}__{s.name}.sql: {what}; runs refuse this warehouse until the file is restored")
        return 1 if bad else 0
    except warehouse.WarehouseError as exc:
        _err(str(exc))
        return 1
    except Exception as exc:  # DuckDB errors on a file that is not a warehouse, …
        _err(f"{path}: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
        return 1


def cmd_db_validate(a: argparse.Namespace) -> int:
    """The warehouse against the declaration (drift) and its declared checks; exit 1 on either."""
    from . import drift, quality

    paths, path, con = _open_read_only(a)
    if con is None:
        return 1
    try:
        report = drift.compare(con, where=str(path))
        results = [] if a.no_checks else quality.run_checks(con, persist=False)
    finally:
        con.close()
    print(report.text())
    failing = [r for r in results if r.status != "pass"]
    errors = [r for r in failing if r.severity == "error"]
    for r in sorted(failing, key=lambda r: (r.severity, r.check_name)):
        what = f"could not run: {r.error}" if r.error else f"{r.failing_rows:,} failing rows"
        print(f"  {'FAIL' if r.severity == 'error' else 'WARN'}  {r.check_name} ({r.model}): {what}")
    if results:
        print(f"{len(results)} declared checks: {len(results) - len(failing)} passed, "
              f"{len(failing) - len(errors)} warnings, {len(errors)} errors")
    return 0 if report.ok and not errors else 1


def cmd_db_docs(a: argparse.Namespace) -> int:
    """Write docs/warehouse.md from the declaration (--check: exit 1 when the file is out of date)."""
    from . import schemadocs

    out = Path(a.to).expanduser().absolute() if a.to else schemadocs.DOC_PATH
    text = schemadocs.render()
    if a.check:
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current != text:
            _err(f"{out} is out of date with the declaration: run `basinlab db docs`")
            return 1
        print(f"{out} is up to date")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out} ({len(text.splitlines())} lines)")
    return 0


def cmd_db_backup(a: argparse.Namespace) -> int:
    """A consistent Parquet export of the published warehouse (every schema) with a manifest."""
    from . import backup

    paths, source = _warehouse_arg(a)
    try:
        res = backup.backup(source, Path(a.to).expanduser().absolute() if a.to else None, paths.data_dir,
                            progress=print)
    except (backup.BackupError, OSError) as exc:
        _err(str(exc))
        return 1
    except Exception as exc:  # a missing or locked warehouse
        _err(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return 1
    print(f"backup {res.folder}: {res.tables} relations, {res.rows:,} rows, {res.bytes / 1e6:,.1f} MB "
          f"(manifest.json lists each file's sha256)")
    return 0


def cmd_db_restore(a: argparse.Namespace) -> int:
    """Rebuild the published warehouse from a backup folder or a snapshot, through build -> validate -> publish."""
    from . import backup
    from .runner import RunError, restore_warehouse

    if not a.source:
        _err("db restore needs FROM: a backup folder or a snapshot (`basinlab db snapshots` lists them)")
        return 2
    paths = config.Paths.resolve(a.data_dir)
    src = Path(a.source).expanduser()
    if not src.exists() and (paths.snapshots / a.source).exists():
        src = paths.snapshots / a.source
    src = src.absolute()
    if src.is_dir():
        def make(build, say):
            return backup.build_from_backup(src, build, say)
    elif src.is_file():
        def make(build, say):
            return backup.build_from_snapshot(src, build, say)
    else:
        _err(f"{a.source} is neither a backup folder nor a snapshot file (`basinlab db snapshots` lists them)")
        return 1
    try:
        restore_warehouse(str(src), make, data_dir=a.data_dir)
    except RunError as exc:
        _err(str(exc))
        return 1
    return 0


def cmd_db_snapshots(a: argparse.Namespace) -> int:
    """What `db restore` can restore: snapshots and backups, with time and run."""
    from . import backup

    paths = config.Paths.resolve(a.data_dir)
    items = backup.snapshots(paths)
    if not items:
        print(f"nothing to restore yet: no snapshots in {paths.snapshots} and no backups in "
              f"{paths.data_dir / backup.BACKUPS_DIR}")
        return 0
    for it in items:
        run = it.get("run") or {}
        what = f"run {run.get('run_id')} ({run.get('month')}, {run.get('status')})" if run else "no run recorded"
        print(f"{it['kind']:8s} {it['time'] or '?':19s} {it['bytes'] / 1e6:9,.1f} MB  {what}\n         {it['path']}")
    return 0


def cmd_settings(a: argparse.Namespace) -> int:
    """The settings in force for the data dir and where each value came from."""
    from . import settings

    paths = config.Paths.resolve(a.data_dir)
    try:
        s = settings.load(paths.data_dir)
    except settings.SettingsError as exc:
        _err(str(exc))
        return 1
    for note in s.notes:
        print(f"note: {note}")
    print("\n".join(settings.describe(s)))
    return 0


def cmd_models(a: argparse.Namespace) -> int:
    from . import transform, warehouse

    try:
        project = transform.load_project()
        if a.mermaid:
            print(project.mermaid())
            return 0
        names = project.select(a.select) if a.select else None
        if a.select and not a.list:
            paths = config.Paths.resolve(a.data_dir)
            path = Path(a.warehouse).resolve() if a.warehouse else paths.dev_warehouse
            if path == paths.warehouse:
                _err("models never run on the published warehouse in place: `basinlab run` rebuilds it; "
                     "use the sandbox (default) or --warehouse")
                return 1
            print(f"running {len(names)} model(s) on {path}")
            con = warehouse.connect(path)
            try:
                warehouse.migrate(con)
                transform.run_models(con, select=a.select, project=project, progress=lambda s: print(f"  {s}"))
            finally:
                con.close()
            return 0
        for name in names if names is not None else project.order:
            m = project.models[name]
            deps = ", ".join(sorted(m.depends_on)) or "-"
            print(f"{m.schema}.{m.name:32s} {m.materialization:5s} <- {deps}")
        return 0
    except Exception as exc:  # model and selection errors carry user-facing messages
        _err(str(exc))
        return 1


def cmd_check(a: argparse.Namespace) -> int:
    from . import quality

    paths, path, con = _open_read_only(a)
    if con is None:
        return 1
    try:
        results = quality.run_checks(con, month=a.month, persist=False)
    finally:
        con.close()
    failing = [r for r in results if r.status != "pass"]
    shown = results if a.all else failing
    order = {"error": 0, "warn": 1}
    for r in sorted(shown, key=lambda r: (r.status == "pass", order.get(r.severity, 2), r.check_name)):
        mark = "PASS" if r.status == "pass" else ("FAIL" if r.severity == "error" else "WARN")
        where = f"{r.model}.{r.column_name}" if r.column_name else (r.model or "")
        print(f"{mark}  {r.check_name:60s} {where:45s} {r.failing_rows:>8,} rows")
        if r.status != "pass":
            if r.error:
                print(f"      could not run: {r.error}")
            elif r.description:
                print(f"      expects: {r.description}")
            if r.sample:
                print(f"      sample: {r.sample[:300]}")
    errors = sum(1 for r in failing if r.severity == "error")
    warns = len(failing) - errors
    print(f"{len(results)} checks on {path}: {len(results) - len(failing)} passed, {warns} warnings, {errors} errors"
          + ("" if a.all else " (--all lists every check)"))
    return 1 if errors else 0


def cmd_backtest(a: argparse.Namespace) -> int:
    """Forecast as of --cut from the rows up to it and score it against the next --horizon months."""
    import json

    from .decline import backtest
    from .decline.economics import well_limits
    from .decline.step import HEADER_SQL, PRODUCTION_SQL

    paths, path, con = _open_read_only(a)
    if con is None:
        return 1
    try:
        prod, header = con.execute(PRODUCTION_SQL).df(), con.execute(HEADER_SQL).df()
        limits = well_limits(con, f"{a.cut}-01")
    except Exception as exc:  # noqa: BLE001 - a warehouse without the staging models
        _err(f"{path}: cannot read production ({exc}); run `basinlab run` first")
        return 1
    finally:
        con.close()
    if prod.empty:
        _err(f"{path}: no production to backtest")
        return 1
    last = prod["production_month"].max()
    bt = backtest(prod, header, cut=a.cut, horizon=a.horizon, phase=a.phase, well_limits=limits)
    f = bt.figures()
    pct = lambda v, s="": "n/a" if v is None else f"{100 * v:{s}.1f} %"  # noqa: E731
    print(f"backtest of {path}: {a.phase} forecast as of {a.cut}, {a.horizon} months compared "
          f"(data to {last:%Y-%m})")
    print(f"  producing wells at the cut   {f['wells_producing']:,}  forecast {f['wells_forecast']:,} "
          f"({pct(f['forecast_share'])})")
    print(f"  well error (horizon volume)  median {pct(f['median_ape'])}, P90 {pct(f['p90_ape'])} "
          f"over {f['wells_with_actual']:,} wells with production after the cut")
    print(f"  aggregate error              {pct(f['aggregate_error'], '+')}  "
          f"(forecast {f['forecast_total']:,.0f} vs actual {f['actual_total']:,.0f})")
    print(f"  P10-P90 coverage             {pct(f['coverage'])} (scale {f['uncertainty_scale']:.2f}; "
          f"80 % at {f['calibrated_scale'] if f['calibrated_scale'] is None else round(f['calibrated_scale'], 2)})")
    print(f"  short-history wells          {f['short_history_wells']:,}, method kept: {f['short_history_method']}")
    methods = bt.wells["method"].fillna("none").value_counts()
    print("  methods                      " + ", ".join(f"{k} {v}" for k, v in methods.items()))
    if _months_after(prod, a.cut) < a.horizon:
        print(f"  note: only {_months_after(prod, a.cut)} month(s) of actuals after the cut")
    if a.out:
        out = Path(a.out).resolve()
        out.mkdir(parents=True, exist_ok=True)
        bt.wells.to_csv(out / f"backtest_{a.phase}_{a.cut}_{a.horizon}m_wells.csv", index=False)
        (out / f"backtest_{a.phase}_{a.cut}_{a.horizon}m.json").write_text(json.dumps(f, default=str, indent=1))
        print(f"  per-well rows and figures in {out}")
    return 0


def _months_after(prod, cut: str) -> int:
    import pandas as pd

    last = pd.Timestamp(prod["production_month"].max())
    c = pd.Timestamp(f"{cut}-01")
    return max(0, (last.year - c.year) * 12 + last.month - c.month)


def cmd_runs(a: argparse.Namespace) -> int:
    from datetime import datetime

    from .runner import FINAL_STATUSES, RunError, dead_runs, load_run_log, read_lock, run_states

    paths = config.Paths.resolve(a.data_dir)
    try:
        if paths.warehouse.exists():
            st = paths.warehouse.stat()
            print(f"published: {paths.warehouse} ({st.st_size / 1e6:,.1f} MB, "
                  f"{datetime.fromtimestamp(st.st_mtime):%Y-%m-%d %H:%M})")
        else:
            print(f"published: none yet at {paths.warehouse}")
        lock = read_lock(paths)
        runs = run_states(load_run_log(paths))
        dead = {r["run_id"]: r for r in dead_runs(paths, lock)}
    except RunError as exc:
        _err(str(exc))
        return 1
    except OSError as exc:
        _err(f"cannot read {exc.filename or paths.data_dir}: {exc.strerror or exc}")
        return 1
    alive = lock.run_id if lock and lock.alive else None
    if not runs and not dead and not alive:
        print("no runs recorded yet")
        return 0
    shown = runs[-a.last:]
    shown += [r for rid, r in dead.items() if rid not in {x["run_id"] for x in shown}]
    for e in shown:
        rid = e.get("run_id", "")
        status = "dead" if rid in dead else ("running" if rid == alive else e.get("status", ""))
        err = (e.get("error") or "").splitlines()[0][:100] if e.get("error") else ""
        secs = e.get("seconds")
        took = f"{secs:6.1f}s" if isinstance(secs, (int, float)) and status in FINAL_STATUSES else "       "
        started, month = str(e.get("started_at") or ""), str(e.get("month") or "")
        print(f"{started:19s}  {month:7s}  {status:10s} {took}  {rid}  {err}")
    if alive:
        print(f"in progress: {lock.describe()}")
    for rid, r in dead.items():
        pid = f" (pid {r.get('pid')})" if r.get("pid") else ""
        print(f"dead run: {rid} for month {r.get('month')}{pid} stopped without finishing — killed or the machine "
              "restarted; the next `basinlab run` records it as abandoned and recovers its files")
    finished = [r for r in runs if r["run_id"] != alive and r["run_id"] not in dead]
    if a.strict:
        if dead:
            _err(f"run {next(iter(dead))} died without finishing (see `dead run` above)")
            return 1
        if finished and finished[-1].get("status") != "succeeded":
            last = finished[-1]
            _err(f"the latest run {last['run_id']} ended {last.get('status')}")
            return 1
    return 0


def cmd_lab(a: argparse.Namespace) -> int:
    paths = config.Paths.resolve(a.data_dir)
    env = os.environ | {
        "BASINLAB_DATA_DIR": str(paths.data_dir),
        "BASINLAB_REPORTS_DIR": str(paths.reports_dir),
        "PLOOMBER_STATS_ENABLED": "false",
    }
    if not paths.warehouse.exists():
        print(f"note: no published warehouse at {paths.warehouse} yet; run `basinlab run --month YYYY-MM --demo`")
    cmd = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={config.REPO_ROOT}", f"--port={a.port}"]
    if a.no_browser:
        cmd.append("--no-browser")
    if a.ip:
        cmd.append(f"--ip={a.ip}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
        print("note: running as root (a container, a cloud VM or a CI box): JupyterLab starts with --allow-root")
    print("JupyterLab on", config.REPO_ROOT, "— notebooks open the published warehouse read-only")
    os.execvpe(cmd[0], cmd, env)
    return 0  # pragma: no cover


def cmd_serve(a: argparse.Namespace) -> int:
    import time

    from .service.api import ServiceSettings, serve
    from .service.generator import GeneratorConfig

    try:
        epoch = None if a.gl_epoch is None else (float(a.gl_epoch) if a.gl_epoch.replace(".", "", 1).isdigit()
                                                 else datetime.fromisoformat(a.gl_epoch).timestamp())
        gen = GeneratorConfig(seed=a.gl_seed, wells=a.gl_wells, months=a.gl_months, end_month=a.gl_end_month or "",
                              stream_months=a.gl_stream_months, batch_journals=a.gl_batch_journals,
                              interval_s=a.gl_interval, epoch=epoch).validated(time.time())
    except ValueError as exc:
        _err(str(exc))
        return 2
    paths = config.Paths.resolve(a.data_dir, a.reports_dir)
    print(f"basinlab API on http://{a.host}:{a.port} (docs at /docs): {paths.warehouse} read-only, "
          f"keys in {paths.data_dir / 'service'}; GL stream {gen.stream_id} every {gen.interval_s:g}s", flush=True)
    if not (paths.data_dir / "service" / "keys.json").exists():
        print("note: no API keys yet, so every data route answers 401: "
              "basinlab keys create --name NAME --permission read", flush=True)
    serve(ServiceSettings(paths, max_page_size=a.max_page_size, generator=gen), a.host, a.port)
    return 0


def cmd_keys(a: argparse.Namespace) -> int:
    from .service.files import ServicePaths
    from .service.keys import KeyStore, KeyStoreError

    store = KeyStore(ServicePaths.resolve(a.data_dir).keys)
    try:
        if a.action == "list":
            recs = sorted((r.public() for r in store.records().values()), key=lambda r: r["created_at"])
            print(f"{'id':9s} {'name':24s} {'permission':10s} {'status':8s} {'created':26s} expires / old secret")
            for r in recs:
                extra = r["expires_at"] or "-"
                if r["old_secret_valid"]:
                    extra += f"  (old secret valid until {r['previous_valid_until']})"
                print(f"{r['id']:9s} {r['name']:24s} {r['permission']:10s} {r['status']:8s} {r['created_at']:26s} "
                      f"{extra}")
            if not recs:
                print("no keys yet: basinlab keys create --name NAME --permission read")
            return 0
        if not a.name:
            _err(f"keys {a.action} needs --name (a key name or id)")
            return 2
        if a.action == "revoke":
            rec = store.revoke(a.name)
            print(f"revoked key {rec.name!r} ({rec.id}); requests with it now get 401", file=sys.stderr)
            return 0
        if a.action == "create":
            if not a.permission:
                _err("keys create needs --permission read|write|admin")
                return 2
            made = store.create(a.name, a.permission, a.expires_days)
            what = f"expires {made.record.expires_at}" if made.record.expires_at else "no expiry"
            print(f"created key {a.name!r} (id {made.record.id}, permission {a.permission}, {what})", file=sys.stderr)
        else:
            made = store.rotate(a.name, a.grace_hours)
            old = (f"the old secret stays valid until {made.old_valid_until}" if made.old_valid_until
                   else "the old secret is no longer valid")
            print(f"rotated key {made.record.name!r} ({made.record.id}); {old}", file=sys.stderr)
        print("the key is shown once, below: store it now (only its SHA-256 hash is kept)", file=sys.stderr)
        print(made.token)
        return 0
    except KeyStoreError as exc:
        _err(str(exc))
        return 1


def cmd_pull(a: argparse.Namespace) -> int:
    import signal

    from .service.files import Busy, ServicePaths

    def _stop(signum, _frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, _stop)  # files are written atomically: stopping anywhere is safe
    sp = ServicePaths.resolve(a.data_dir)
    say = (lambda m: print(f"  {m}", flush=True)) if not a.quiet else None
    try:
        if a.source == "gl":
            from .service.pull import GLPuller, PullError, read_key

            try:
                res = GLPuller(a.url, sp, key=read_key(a.key_file), progress=say).run(
                    follow=a.follow, max_batches=a.max_batches)
            except PullError as exc:
                _err(str(exc))
                return 1
            print(f"{len(res.written)} new batch file(s) in {sp.paths.inbox / 'gl'}"
                  + (f", {len(res.already_present)} already there" if res.already_present else "")
                  + (f"; stream {res.stream_id} complete" if res.ended else "")
                  + (f"; last sequence {res.last_sequence}" if res.last_sequence is not None else ""))
            return 0
        from .service.eia import EIAError, pull_eia

        try:
            res = pull_eia(sp, series=a.series.split(",") if a.series else None, start=a.start, end=a.end,
                           base_url=a.base_url, progress=say)
        except EIAError as exc:
            _err(str(exc))
            return 1
        for name, months in res.withheld.items():
            print(f"  {name}: {len(months)} month(s) withheld by EIA (no value), not written: {', '.join(months[:6])}"
                  + (" …" if len(months) > 6 else ""))
        if res.unchanged:
            print(f"no new data: {res.prices_file.name} already holds this pull")
        else:
            print(f"{res.prices_rows:,} price rows -> {res.prices_file}\nas received -> {res.received_file} "
                  "(loaded into raw.eia_petroleum by the next run)")
        return 0
    except Busy as exc:
        _err(str(exc))
        return 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="basinlab", description="Oil & gas analytics workbench: "
                                "DuckDB warehouse, notebooks, monthly PDF/Excel reports.")
    p.add_argument("--version", action="version", version=f"basinlab {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = p.add_subparsers(dest="command", required=True)

    def data_dir(sp):
        sp.add_argument("--data-dir", help="data dir holding inbox/ and warehouse.duckdb (default: repo data/)")

    d = sub.add_parser("demo", help="write deterministic demo source files into the inbox")
    d.add_argument("--wells", type=_positive, default=200)
    d.add_argument("--months", type=_positive, default=60)
    d.add_argument("--end-month", type=_month, required=True, help="last month of data, YYYY-MM")
    d.add_argument("--seed", type=int, default=42)
    d.add_argument("--out", help="inbox dir to write (default: <data-dir>/inbox)")
    data_dir(d)
    d.set_defaults(fn=cmd_demo)

    r = sub.add_parser("run", help="run the monthly pipeline and write the PDF and Excel report")
    r.add_argument("--month", type=_month, required=True, help="report month, YYYY-MM")
    r.add_argument("--demo", action="store_true", help="generate the demo inbox for the month first")
    r.add_argument("--wells", type=_positive, default=200, help="demo wells (with --demo)")
    r.add_argument("--months", type=_positive, default=60, help="demo months of history (with --demo)")
    r.add_argument("--seed", type=int, default=42, help="demo seed (with --demo)")
    r.add_argument("--full-refresh", action="store_true",
                   help="rebuild the incremental models in full (default: merge only the files that changed)")
    r.add_argument("--refit-all", action="store_true",
                   help="refit every well's decline (default: only wells whose production changed since the last fit)")
    data_dir(r)
    r.add_argument("--reports-dir", help="reports dir (default: repo reports/)")
    r.set_defaults(fn=cmd_run)

    rp = sub.add_parser("report", help="re-render a month, quarter or year from the published warehouse "
                                       "(read-only, without running the chain)")
    rpw = rp.add_mutually_exclusive_group(required=True)
    rpw.add_argument("--month", type=_month, help="report month, YYYY-MM")
    rpw.add_argument("--period", help="report period: YYYY-MM, a quarter YYYY-QN, or a year YYYY")
    data_dir(rp)
    rp.add_argument("--reports-dir", help="reports dir (default: repo reports/)")
    rp.set_defaults(fn=cmd_report)

    db = sub.add_parser("db", help="warehouse: migrations, validation against the declaration, docs, backup, restore")
    db.add_argument("action", choices=["migrate", "status", "validate", "docs", "backup", "restore", "snapshots"],
                    help="migrate|status: the migrations; validate: drift and checks; docs: docs/warehouse.md; "
                         "backup: Parquet export; restore FROM: a backup folder or snapshot; "
                         "snapshots: what to restore")
    db.add_argument("source", nargs="?", help="restore: a backup folder or a snapshot (path or file name)")
    db.add_argument("--warehouse", help="DuckDB file (default: the published warehouse)")
    db.add_argument("--to", help="backup: the folder to write (default <data-dir>/backups/backup-<time>); "
                                 "docs: the file (default docs/warehouse.md)")
    db.add_argument("--check", action="store_true", help="docs: exit 1 when the file is out of date, write nothing")
    db.add_argument("--no-checks", action="store_true", help="validate: compare the schema only")
    data_dir(db)
    db.set_defaults(fn=cmd_db)

    st = sub.add_parser("settings", help="the settings in force (<data-dir>/settings.yml) and where each came from")
    data_dir(st)
    st.set_defaults(fn=cmd_settings)

    m = sub.add_parser("models", help="list the SQL model DAG, print it as Mermaid, or run a selection")
    m.add_argument("--select", help="run NAME, NAME+ (and what depends on it) or +NAME (and its upstream) "
                                    "on the sandbox warehouse (or --warehouse)")
    m.add_argument("--list", action="store_true", help="with --select: list the selection instead of running it")
    m.add_argument("--mermaid", action="store_true", help="print the DAG as a Mermaid graph")
    m.add_argument("--warehouse", help="DuckDB file to run on (default: the sandbox <data-dir>/dev.duckdb)")
    data_dir(m)
    m.set_defaults(fn=cmd_models)

    c = sub.add_parser("check", help="run every data-quality check on the published warehouse (read-only)")
    c.add_argument("--month", type=_month, help="month that must be present (freshness)")
    c.add_argument("--all", action="store_true", help="list passing checks too")
    c.add_argument("--warehouse", help="DuckDB file (default: the published warehouse)")
    data_dir(c)
    c.set_defaults(fn=cmd_check)

    rn = sub.add_parser("runs", help="recent runs (succeeded, failed, abandoned) and the published warehouse")
    rn.add_argument("--last", type=_positive, default=12, help="how many runs to list")
    rn.add_argument("--strict", action="store_true",
                    help="exit 1 when a run died without finishing or the latest run did not succeed (monitoring)")
    data_dir(rn)
    rn.set_defaults(fn=cmd_runs)

    bt = sub.add_parser("backtest", help="forecast as of a past month and score it against what the wells produced")
    bt.add_argument("--cut", type=_month, required=True, help="last month the forecast may see, YYYY-MM")
    bt.add_argument("--horizon", type=_positive, default=24, help="months compared after the cut")
    bt.add_argument("--phase", choices=["oil", "gas", "water"], default="oil")
    bt.add_argument("--out", help="folder for the per-well CSV and the figures as JSON")
    bt.add_argument("--warehouse", help="DuckDB file (default: the published warehouse, read-only)")
    data_dir(bt)
    bt.set_defaults(fn=cmd_backtest)

    lab = sub.add_parser("lab", help="open JupyterLab on the notebooks (warehouse read-only)")
    lab.add_argument("--port", type=int, default=8888)
    lab.add_argument("--ip", help="interface to listen on (e.g. 0.0.0.0 in a container)")
    lab.add_argument("--no-browser", action="store_true")
    data_dir(lab)
    lab.set_defaults(fn=cmd_lab)

    sv = sub.add_parser("serve", help="the read-only data API (FastAPI + uvicorn), docs at /docs")
    sv.add_argument("--host", default="127.0.0.1", help="interface (0.0.0.0 in a container)")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--max-page-size", type=_positive, default=10_000, help="largest limit a client may ask")
    sv.add_argument("--gl-interval", type=float, default=30.0, help="seconds between GL stream batches")
    sv.add_argument("--gl-seed", type=int, default=42)
    sv.add_argument("--gl-wells", type=_positive, default=200)
    sv.add_argument("--gl-months", type=_positive, default=60)
    sv.add_argument("--gl-end-month", type=_month, help="last month of the GL window (default: previous month)")
    sv.add_argument("--gl-stream-months", type=int, default=12, help="last months of the window sent as batches")
    sv.add_argument("--gl-batch-journals", type=_positive, default=100, help="journals per batch")
    sv.add_argument("--gl-epoch", help="release time of batch 0 (ISO time or unix seconds; default: start)")
    data_dir(sv)
    sv.add_argument("--reports-dir", help="reports dir served by /reports (default: repo reports/)")
    sv.set_defaults(fn=cmd_serve)

    ky = sub.add_parser("keys", help="API keys of the data API: create, list, revoke, rotate")
    ky.add_argument("action", choices=["create", "list", "revoke", "rotate"])
    ky.add_argument("--name", help="key name (revoke/rotate: name or id)")
    ky.add_argument("--permission", choices=["read", "write", "admin"], help="create: what the key may do")
    ky.add_argument("--expires-days", type=float, help="create: the key expires after this many days")
    ky.add_argument("--grace-hours", type=float, default=24.0, help="rotate: how long the old secret stays valid")
    data_dir(ky)
    ky.set_defaults(fn=cmd_keys)

    pl = sub.add_parser("pull", help="fetch into the inbox: the GL stream (gl) or EIA spot prices (eia)")
    pls = pl.add_subparsers(dest="source", required=True)
    pg = pls.add_parser("gl", help="new GL stream batches, one inbox file each (key: $BASINLAB_API_KEY)")
    pg.add_argument("--from", dest="url", required=True, help="the API's base URL, e.g. http://127.0.0.1:8000")
    pg.add_argument("--key-file", help="file holding the API key (default: $BASINLAB_API_KEY)")
    pg.add_argument("--follow", action="store_true", help="keep waiting for new batches")
    pg.add_argument("--max-batches", type=_positive, help="stop after this many batches")
    pe = pls.add_parser("eia", help="EIA API v2 monthly spot prices (key: $EIA_API_KEY)")
    pe.add_argument("--series", help="comma list of WTI, BRENT, HENRY_HUB (default: all three)")
    pe.add_argument("--start", help="first month YYYY-MM (default: the whole history)")
    pe.add_argument("--end", help="last month YYYY-MM")
    pe.add_argument("--base-url", default="https://api.eia.gov/v2", help=argparse.SUPPRESS)
    for sp_ in (pg, pe):
        sp_.add_argument("--quiet", action="store_true", help="only the summary line")
        data_dir(sp_)
    pl.set_defaults(fn=cmd_pull)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.fn(args)
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except Exception as exc:  # never a traceback for the user; -v shows it
        if args.verbose:
            raise
        text = str(exc).strip()
        _err(f"{type(exc).__name__}: {text.splitlines()[0] if text else ''} (run with -v for the details)")
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
