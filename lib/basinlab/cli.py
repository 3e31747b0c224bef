"""The ``basinlab`` command line.

    basinlab demo   --wells N --months M --end-month YYYY-MM --seed S [--out DIR]
    basinlab run    --month YYYY-MM [--demo] [--data-dir D] [--reports-dir R]
    basinlab db     migrate|status [--warehouse PATH]
    basinlab models [--mermaid] [--select NAME+ [--list]] [--warehouse PATH]
    basinlab check  [--month YYYY-MM] [--all]
    basinlab runs   [--last N] [--strict]
    basinlab backtest --cut YYYY-MM [--horizon N] [--phase oil] [--out DIR] [--warehouse PATH]
    basinlab lab    [--port P]

Exit codes: 0 success, 1 the work failed (message on stderr), 2 bad usage.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
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
                  demo_wells=a.wells, demo_months=a.months, demo_seed=a.seed)
    except RunError as exc:
        _err(str(exc))
        return 1
    return 0


def cmd_db(a: argparse.Namespace) -> int:
    from . import warehouse

    paths = config.Paths.resolve(a.data_dir)
    path = Path(a.warehouse).resolve() if a.warehouse else paths.warehouse
    try:
        if a.action == "migrate":
            if path == paths.warehouse and path.exists():
                _err(f"{path} is the published warehouse; the runner migrates it on the next run "
                     "(use --warehouse for another file)")
                return 1
            con = warehouse.connect(path)
            applied = warehouse.migrate(con)
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
            states = warehouse.migration_status(con)
            con.close()
            print(f"{path}:")
        for s in states:
            when = f"  applied {s.applied_at:%Y-%m-%d %H:%M}" if s.applied_at else ""
            print(f"  V{s.version:03d} {s.name:30s} {s.status:8s} {s.checksum[:12]}{when}")
        return 1 if any(s.status in ("changed", "missing") for s in states) else 0
    except warehouse.WarehouseError as exc:
        _err(str(exc))
        return 1


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
    from . import quality, warehouse

    paths = config.Paths.resolve(a.data_dir)
    path = Path(a.warehouse).resolve() if a.warehouse else paths.warehouse
    try:
        con = warehouse.connect(path, read_only=True)
    except warehouse.WarehouseError as exc:
        _err(str(exc))
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

    from . import warehouse
    from .decline import backtest
    from .decline.economics import well_limits
    from .decline.step import HEADER_SQL, PRODUCTION_SQL

    paths = config.Paths.resolve(a.data_dir)
    path = Path(a.warehouse).resolve() if a.warehouse else paths.warehouse
    try:
        con = warehouse.connect(path, read_only=True)
    except warehouse.WarehouseError as exc:
        _err(str(exc))
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
    import json
    from datetime import datetime

    paths = config.Paths.resolve(a.data_dir)
    if paths.warehouse.exists():
        st = paths.warehouse.stat()
        print(f"published: {paths.warehouse} ({st.st_size / 1e6:,.1f} MB, "
              f"{datetime.fromtimestamp(st.st_mtime):%Y-%m-%d %H:%M})")
    else:
        print(f"published: none yet at {paths.warehouse}")
    if not paths.run_log.exists():
        print("no runs recorded yet")
        return 0
    entries = []
    for line in paths.run_log.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    for e in entries[-a.last:]:
        err = (e.get("error") or "").splitlines()[0][:100] if e.get("error") else ""
        secs = e.get("seconds")
        took = f"{secs:6.1f}s" if isinstance(secs, (int, float)) else "      "
        print(f"{e.get('started_at', ''):19s}  {e.get('month', ''):7s}  {e.get('status', ''):10s} {took}  "
              f"{e.get('run_id', '')}  {err}")
    return 1 if entries and entries[-1].get("status") not in ("succeeded",) and a.strict else 0


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
    print("JupyterLab on", config.REPO_ROOT, "— notebooks open the published warehouse read-only")
    os.execvpe(cmd[0], cmd, env)
    return 0  # pragma: no cover


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
    data_dir(r)
    r.add_argument("--reports-dir", help="reports dir (default: repo reports/)")
    r.set_defaults(fn=cmd_run)

    db = sub.add_parser("db", help="warehouse migrations")
    db.add_argument("action", choices=["migrate", "status"])
    db.add_argument("--warehouse", help="DuckDB file (default: the published warehouse)")
    data_dir(db)
    db.set_defaults(fn=cmd_db)

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
    rn.add_argument("--strict", action="store_true", help="exit 1 when the latest run did not succeed (monitoring)")
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
