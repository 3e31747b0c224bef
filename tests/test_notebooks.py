"""The notebooks as an analyst uses them, and the house rules they keep.

* The chain 01 → 05 runs standalone with its defaults (papermill's Python API, the ``python3``
  kernel, cwd = notebooks/), only ``data_dir`` (and the report's ``output_dir``) pointed at a temp
  dir: writers use the sandbox ``dev.duckdb``, never the published file; the report reads the sandbox
  when nothing is published.
* Static rules on the committed notebooks: one ``parameters`` cell of typed literals with ``# help``
  comments, first among code cells; no ``def``/``class`` in a notebook (they belong in lib/); no
  outputs or execution counts committed; SQL exploration (``%sql``) in every notebook (the report's is left
  out of the PDF).
"""
from __future__ import annotations

import ast
import io
import os
import tokenize
from pathlib import Path

import duckdb
import nbformat
import pytest

from basinlab import config

os.environ["PLOOMBER_STATS_ENABLED"] = "false"

CHAIN = ("01_ingest", "02_transform", "03_decline", "04_quality", "05_report")
NOTEBOOKS = sorted(p for p in config.NOTEBOOKS_DIR.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
EXPLORE = sorted(p for p in NOTEBOOKS if p.parent != config.NOTEBOOKS_DIR)  # never chained, read-only
REPORT = "05_report"


def nb_id(p: Path) -> str:
    return p.relative_to(config.NOTEBOOKS_DIR).with_suffix("").as_posix()


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def read(path: Path):
    return nbformat.read(path, as_version=4)


def error_outputs(nb) -> list[str]:
    return [f"cell {i}: {o.get('ename')}: {o.get('evalue')}"
            for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "error"]


# --------------------------------------------------------------------------- the chain, standalone


def repo_state() -> dict[str, float | None]:
    """mtime (or None) of what a notebook would write in the repo's own data/ and reports/."""
    d = config.REPO_ROOT / "data"
    watched = [d / config.DEV_WAREHOUSE_FILE, d / config.WAREHOUSE_FILE, d / config.INBOX_DIR,
               config.REPO_ROOT / "reports"]
    return {str(p): (p.stat().st_mtime if p.exists() else None) for p in watched}


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Execute 01..05 in order against one temp data dir, then the exploration notebooks;
    returns (data_dir, output_dir, executed notebooks, repo data/ state before)."""
    import papermill as pm

    root = tmp_path_factory.mktemp("notebooks")
    data, out, executed_dir = root / "data", root / "report_out", root / "executed"
    executed = {}
    repo_before = repo_state()
    for name in CHAIN:
        params = {"data_dir": str(data)}
        if name == REPORT:
            params["output_dir"] = str(out)
        dest = executed_dir / f"{name}.ipynb"
        dest.parent.mkdir(parents=True, exist_ok=True)
        pm.execute_notebook(str(config.NOTEBOOKS_DIR / f"{name}.ipynb"), str(dest), parameters=params,
                            kernel_name="python3", cwd=str(config.NOTEBOOKS_DIR), progress_bar=False,
                            log_output=False, start_timeout=120)
        executed[name] = read(dest)
    for path in EXPLORE:  # exploration notebooks read what the chain left (the sandbox: nothing is published)
        dest = executed_dir / f"{nb_id(path)}.ipynb"
        dest.parent.mkdir(parents=True, exist_ok=True)
        pm.execute_notebook(str(path), str(dest), parameters={"data_dir": str(data)}, kernel_name="python3",
                            cwd=str(path.parent), progress_bar=False, log_output=False, start_timeout=120)
        executed[nb_id(path)] = read(dest)
    return data, out, executed, repo_before


@pytest.mark.kernel
def test_chain_runs_without_errors(chain):
    _, _, executed, _ = chain
    assert list(executed) == [*CHAIN, *map(nb_id, EXPLORE)]
    for name, nb in executed.items():
        assert not error_outputs(nb), f"{name}: {error_outputs(nb)}"
        # papermill executed every code cell
        assert all(c.get("execution_count") for c in code_cells(nb)), f"{name}: a code cell did not run"


@pytest.mark.kernel
def test_ingest_wrote_a_demo_inbox_because_the_inbox_was_empty(chain):
    data, _, executed, _ = chain
    inbox = data / config.INBOX_DIR
    kinds = {p.parent.name for p in inbox.rglob("*") if p.is_file()}
    assert {"well_header", "well_production", "gl", "prices", "fx"} <= kinds, kinds
    text = "".join(o.get("text", "") for c in code_cells(executed["01_ingest"]) for o in c.get("outputs", []))
    assert "inbox was empty: wrote a" in text, "01_ingest should say it wrote the demo inbox"
    assert "sandbox" in text, "01_ingest standalone should say it writes the sandbox"


@pytest.mark.kernel
def test_writers_used_the_sandbox_and_published_nothing(chain):
    data, _, _, _ = chain
    assert (data / config.DEV_WAREHOUSE_FILE).exists()
    assert not (data / config.WAREHOUSE_FILE).exists(), "a standalone writer notebook published the warehouse"
    assert not (data / config.BUILDS_DIR).exists() and not (data / config.SNAPSHOTS_DIR).exists()
    con = duckdb.connect(str(data / config.DEV_WAREHOUSE_FILE), read_only=True)
    try:
        counts = {t: con.execute(f"select count(*) from marts.{t}").fetchone()[0]
                  for t in ("mart_production_monthly", "mart_kpis_monthly", "dim_wells", "decline_params")}
        checks = con.execute("select count(*) from metadata.data_quality_checks").fetchone()[0]
        loaded = con.execute("select count(*) from metadata.ingested_files where status = 'loaded'").fetchone()[0]
    finally:
        con.close()
    assert all(n > 0 for n in counts.values()), counts
    assert checks > 0 and loaded > 0


@pytest.mark.kernel
def test_report_read_the_sandbox_and_wrote_the_workbook_to_output_dir(chain):
    data, out, _, _ = chain
    con = duckdb.connect(str(data / config.DEV_WAREHOUSE_FILE), read_only=True)
    try:
        latest = con.execute("select strftime(max(production_month), '%Y-%m') from staging.stg_production"
                             ).fetchone()[0]
    finally:
        con.close()
    # nothing was published, so the reader fell back to the sandbox: the workbook is the sandbox's latest month
    assert sorted(p.name for p in out.iterdir()) == [f"basinlab_{latest}.xlsx"]
    assert not (data / config.WAREHOUSE_FILE).exists()
    import openpyxl

    wb = openpyxl.load_workbook(out / f"basinlab_{latest}.xlsx", read_only=True)
    assert len(wb.sheetnames) > 1
    wb.close()


@pytest.mark.kernel
def test_repo_data_is_untouched(chain):
    _, _, _, repo_before = chain
    assert repo_state() == repo_before, "a notebook wrote into the repo's data/ instead of its data_dir"


# --------------------------------------------------------------------------- house rules, every notebook


def test_every_chained_notebook_exists():
    assert {p.stem for p in NOTEBOOKS} >= set(CHAIN)


def parameters_cells(nb) -> list:
    return [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=nb_id)
def test_one_parameters_cell_of_typed_literals_with_help(path):
    nb = read(path)
    cells = parameters_cells(nb)
    assert len(cells) == 1, f"{path.name}: {len(cells)} cells tagged 'parameters'"
    assert code_cells(nb)[0] is cells[0], f"{path.name}: the parameters cell must be the first code cell"
    src = cells[0].source
    tree = ast.parse(src)
    assert tree.body, f"{path.name}: empty parameters cell"
    types = {"str": str, "int": int, "float": float, "bool": bool}
    for stmt in tree.body:
        line = ast.get_source_segment(src, stmt)
        assert isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name), \
            f"{path.name}: `{line}` is not `name: type = literal`"
        assert isinstance(stmt.annotation, ast.Name) and stmt.annotation.id in types, \
            f"{path.name}: `{line}` must be annotated str, int, float or bool"
        assert isinstance(stmt.value, ast.Constant), f"{path.name}: `{line}` must assign a literal"
        assert type(stmt.value.value) is types[stmt.annotation.id], \
            f"{path.name}: `{line}`: the literal is not a {stmt.annotation.id}"
    comments = {t.start[0]: t.string for t in tokenize.generate_tokens(io.StringIO(src).readline)
                if t.type == tokenize.COMMENT}
    for stmt in tree.body:
        assert comments.get(stmt.lineno, "").startswith("# help:") and len(comments[stmt.lineno]) > 10, \
            f"{path.name}: parameter `{stmt.target.id}` needs a `# help: ...` comment on its line"


def python_of(cell_source: str) -> str:
    """A cell's source as plain Python (IPython magics turned into calls)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(cell_source)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=nb_id)
def test_no_functions_or_classes_in_notebooks(path):
    for i, cell in enumerate(read(path).cells):
        if cell.cell_type != "code":
            continue
        tree = ast.parse(python_of(cell.source))
        defs = [n.name for n in ast.walk(tree)
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        assert not defs, f"{path.name} cell {i} defines {defs}: a def belongs in lib/basinlab/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=nb_id)
def test_committed_notebooks_have_no_outputs(path):
    nb = read(path)
    for i, cell in enumerate(code_cells(nb)):
        assert not cell.get("outputs"), f"{path.name}: code cell {i} has outputs committed"
        assert cell.get("execution_count") is None, f"{path.name}: code cell {i} has an execution count"
    assert "papermill" not in nb.metadata, f"{path.name} is an executed (papermill) copy"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=nb_id)
def test_exploration_notebooks_have_a_sql_cell(path):
    sources = [c.source.lstrip() for c in code_cells(read(path))]
    assert any(s.startswith("%%sql") or any(line.lstrip().startswith("%sql") for line in s.splitlines())
               for s in sources), f"{path.name} has no %sql / %%sql cell"
