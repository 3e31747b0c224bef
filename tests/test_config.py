import pytest

from basinlab import config


def test_paths_resolve_from_the_package_not_the_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BASINLAB_DATA_DIR", raising=False)
    assert (config.SQL_DIR / "migrations").is_dir()
    assert (config.NOTEBOOKS_DIR / "01_ingest.ipynb").is_file()
    assert config.Paths.resolve().data_dir == config.REPO_ROOT / "data"


def test_env_overrides_and_sandbox(tmp_path, monkeypatch):
    monkeypatch.setenv("BASINLAB_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("BASINLAB_REPORTS_DIR", str(tmp_path / "r"))
    monkeypatch.delenv("BASINLAB_SANDBOX_DIR", raising=False)
    p = config.Paths.resolve()
    assert p.warehouse == tmp_path / "d" / "warehouse.duckdb"
    assert p.dev_warehouse == tmp_path / "d" / "dev.duckdb"
    assert p.standalone_reports("2024-06") == tmp_path / "r" / "2024-06"
    monkeypatch.setenv("BASINLAB_SANDBOX_DIR", str(tmp_path / "sb"))
    assert p.dev_warehouse == tmp_path / "sb" / "dev.duckdb"
    assert p.standalone_reports("2024-06") == tmp_path / "sb" / "reports" / "2024-06"
    assert p.warehouse == tmp_path / "d" / "warehouse.duckdb"   # the published file never moves


@pytest.mark.parametrize("bad", ["2024-13", "2024-6", "24-06", "2024/06", "", "June"])
def test_bad_months_are_refused_with_the_format(bad):
    with pytest.raises(ValueError, match="YYYY-MM"):
        config.parse_month(bad)


def test_good_month():
    assert config.parse_month("2024-06") == (2024, 6)
