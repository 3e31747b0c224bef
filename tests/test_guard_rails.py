"""The suite's own guard rails: what keeps tests from vanishing, reaching outside the repository, or
starting kernels where ``make test-fast`` promises none."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from basinlab import config

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


@pytest.mark.slow
def test_decline_tests_fail_naming_petbox_when_it_is_missing(tmp_path):
    """Without petbox-dca the decline tests are an error saying what to install, never a quiet skip."""
    fake = tmp_path / "site" / "petbox"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named petbox (hidden by the test)')\n")
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(fake.parent), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                          str(TESTS / "test_decline.py")], capture_output=True, text=True, cwd=REPO, env=env,
                         timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode not in (0, 5), out  # 5: nothing collected
    assert "petbox-dca" in out and "pip install" in out, out
    assert "skipped" not in out.lower(), out


ABSOLUTE_PATH = re.compile(r"""["'](/(?:work|home|root|Users|mnt|srv)/[^"']*)["']|Path\.home\(\)""")


@pytest.mark.parametrize("path", sorted(TESTS.glob("*.py")), ids=lambda p: p.name)
def test_no_test_names_a_path_outside_the_repository(path):
    """Tests reach the real data only through ``config.SHARED_DATA_DIR`` (``../shared/data`` or
    ``$BASINLAB_SHARED_DATA``); everything else they build under ``tmp_path``."""
    hits = [m.group(0) for m in ABSOLUTE_PATH.finditer(path.read_text(encoding="utf-8"))]
    if path.name == "test_guard_rails.py":
        hits = [h for h in hits if "(?:" not in h and h != "Path.home()"]
    assert not hits, f"{path.name} names paths outside the repository: {hits}"


def test_shared_data_dir_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(config.ENV_SHARED_DATA, str(tmp_path / "elsewhere"))
    assert config.shared_data_dir() == (tmp_path / "elsewhere").resolve()
    monkeypatch.delenv(config.ENV_SHARED_DATA)
    assert config.shared_data_dir() == config.REPO_ROOT.parent / "shared" / "data"


@pytest.mark.parametrize(("argv", "starts"), [
    (["/x/.venv/bin/basinlab", "run", "--month", "2024-06"], True),
    (["basinlab", "report", "--period", "2024-Q2"], True),
    (["basinlab", "lab", "--no-browser"], True),
    ([sys.executable, "-m", "basinlab.cli", "run", "--month", "2024-06"], True),
    (["basinlab", "demo", "--wells", "3"], False),
    (["basinlab", "db", "migrate"], False),
    (["chromium", "--headless", "run"], False),
    ("basinlab", False),
])
def test_the_kernel_guard_knows_which_commands_start_kernels(argv, starts):
    from conftest import _starts_kernels

    assert _starts_kernels(argv) is starts


GUARDED = '''
import subprocess
import pytest
from jupyter_client.manager import KernelManager


def test_unmarked_kernel():
    KernelManager(kernel_name="python3").start_kernel()


def test_unmarked_run():
    subprocess.run(["basinlab", "run", "--month", "2024-06"])


@pytest.mark.kernel
def test_marked_may():
    assert KernelManager._async_launch_kernel.__name__ == "_async_launch_kernel"
'''


@pytest.mark.slow
def test_an_unmarked_test_that_starts_a_kernel_fails_naming_the_marker(tmp_path):
    shutil.copy(TESTS / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_guarded.py").write_text(GUARDED)
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                          "-o", "markers=kernel", "-o", "markers=slow", str(tmp_path)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    out = res.stdout + res.stderr
    assert "2 failed, 1 passed" in out, out
    assert out.count("add @pytest.mark.kernel") >= 2, out
