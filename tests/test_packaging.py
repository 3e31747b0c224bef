"""A non-editable install works: the wheel ships sql/ and notebooks/ inside the package and
``basinlab.config`` finds them there (no checkout beside it)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

#: builds a wheel and starts Python on it: not for the quick loop
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
#: what a wheel must carry of the repository, by folder: the file patterns
SHIPPED = {"sql": ("*.sql", "*.yml"), "notebooks": ("*.ipynb",)}


def repo_files(folder: str) -> set[str]:
    """The repository's files of ``folder`` the package needs (checkpoint copies left out)."""
    root = REPO / folder
    return {p.relative_to(root).as_posix() for pattern in SHIPPED[folder] for p in root.rglob(pattern)
            if p.is_file() and ".ipynb_checkpoints" not in p.parts}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the sources (so the build never writes into the checkout)."""
    pytest.importorskip("setuptools", minversion="70.1",
                        reason="the dev extras pin setuptools>=70.1 to build wheels without isolation")
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy2(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints", "_sql", "_notebooks")
    for name in ("lib", "sql", "notebooks"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    out = tmp_path_factory.mktemp("wheel")
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                          "-q", "-w", str(out), str(src)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    wheels = list(out.glob("basinlab-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.mark.parametrize(("folder", "inside"), [("sql", "_sql"), ("notebooks", "_notebooks")])
def test_the_wheel_carries_every_sql_and_notebook_file(wheel, folder, inside):
    prefix = f"basinlab/{inside}/"
    with zipfile.ZipFile(wheel) as z:
        shipped = {n[len(prefix):] for n in z.namelist() if n.startswith(prefix)}
        if folder == "notebooks":
            for name in shipped:
                nb = json.loads(z.read(prefix + name))
                assert nb.get("cells"), f"{name} shipped empty"
    expected = repo_files(folder)
    assert expected, f"nothing found in {REPO / folder}"
    assert shipped == expected, (f"missing from the wheel: {sorted(expected - shipped)}; "
                                 f"not in the repository: {sorted(shipped - expected)}")


PROBE = """
import json, sys
import basinlab, basinlab.config as c
from basinlab import catalog, warehouse
print(json.dumps({"package": basinlab.__file__, "in_checkout": c.IN_CHECKOUT, "sql": str(c.SQL_DIR),
                  "notebooks": str(c.NOTEBOOKS_DIR), "data": str(c.default_data_dir()),
                  "migrations": [m.version for m in warehouse.discover_migrations()],
                  "tables": len(catalog.load().tables)}))
"""


def test_the_installed_package_finds_sql_and_notebooks_inside_itself(wheel, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)  # a wheel is installed by unpacking it
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASINLAB_")}
    env |= {"PYTHONPATH": str(site), "HOME": str(tmp_path / "home"), "XDG_DATA_HOME": ""}
    res = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=tmp_path, env=env,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.strip().splitlines()[-1])
    pkg = site / "basinlab"
    assert Path(got["package"]).parent == pkg, "the probe imported the checkout, not the unpacked wheel"
    assert got["in_checkout"] is False
    assert Path(got["sql"]) == pkg / "_sql" and Path(got["notebooks"]) == pkg / "_notebooks"
    assert (Path(got["notebooks"]) / "01_ingest.ipynb").is_file()
    files = (REPO / "sql" / "migrations").glob("V*.sql")
    assert got["migrations"] == sorted(int(p.name[1:].split("__")[0]) for p in files)
    assert got["tables"] > 0
    assert Path(got["data"]) == tmp_path / "home" / ".local" / "share" / "basinlab" / "data"
