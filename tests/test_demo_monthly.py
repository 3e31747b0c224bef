"""The demo inbox delivered month by month (basinlab.demo_monthly): every source row delivered once,
in its month's file, in the source's order; a later delivery adds only the new month; memory does
not grow with the source."""
from __future__ import annotations

import csv
import random
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from basinlab import demo_monthly
from basinlab.demo_monthly import UNDATED, monthly_deliveries

HEADER = ["well_id", "production_month", "oil_bbl"]


def _source(root: Path, rows: list[list[str]]) -> Path:
    src = root / "source"
    (src / "well_production").mkdir(parents=True)
    (src / "well_header").mkdir()
    with (src / "well_production" / "demo_production.csv").open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(rows)
    (src / "well_header" / "demo_wells.csv").write_text("well_id,field\nW1,A\n")
    return src


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as fh:
        r = list(csv.reader(fh))
    return r[0], r[1:]


def _expected_month(value: str) -> str:
    """The spec: a value starting YYYY-MM with a real month is that month, anything else undated."""
    v = value.strip()
    ok = len(v) >= 7 and v[:4].isdigit() and v[4] == "-" and v[5:7].isdigit() and 1 <= int(v[5:7]) <= 12
    return v[:7] if ok else UNDATED


dates = st.one_of(
    st.sampled_from(["2024-01", "2024-02", "2024-03", "2024-03-15", " 2024-02 ", "2023-12"]),
    st.sampled_from(["", "2024-13", "24-01", "garbage", "2024/01", "0000-00"]),   # hostile: undated
)
rows_strategy = st.lists(st.tuples(st.sampled_from(["W1", "W2", "W3"]), dates,
                                   st.integers(0, 999).map(str)), max_size=60)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy, upto=st.sampled_from(["2023-12", "2024-02", "2024-03"]))
def test_every_row_is_delivered_once_in_its_months_file_in_source_order(tmp_path_factory, rows, upto):
    root = tmp_path_factory.mktemp("deliver")
    src = _source(root, [list(r) for r in rows])
    written = monthly_deliveries(src, root / "inbox", upto)
    got: dict[str, list[list[str]]] = {}
    for path in written:
        if path.parent.name != "well_production":
            continue
        header, body = _read(path)
        assert header == HEADER
        month = path.stem.rsplit("_", 1)[1]
        got[month] = body
    want: dict[str, list[list[str]]] = {}
    for r in rows:
        m = _expected_month(r[1])
        if m == UNDATED or m <= upto:
            want.setdefault(m, []).append(list(r))
    assert got == want                                     # same rows, same months, source order
    assert (root / "inbox" / "well_header" / "demo_wells.csv").read_text() == "well_id,field\nW1,A\n"


def test_the_next_delivery_adds_only_the_new_month_and_rewrites_the_same_bytes(tmp_path):
    rng = random.Random(3)
    rows = [[f"W{rng.randint(1, 9)}", f"2024-{m:02d}", str(rng.randint(0, 500))] for m in (1, 2, 3) for _ in range(40)]
    src = _source(tmp_path, rows)
    inbox = tmp_path / "inbox"
    monthly_deliveries(src, inbox, "2024-02")
    before = {p.name: p.read_bytes() for p in (inbox / "well_production").iterdir()}
    monthly_deliveries(src, inbox, "2024-03")
    after = {p.name: p.read_bytes() for p in (inbox / "well_production").iterdir()}
    assert set(after) - set(before) == {"demo_production_2024-03.csv"}
    assert all(after[name] == data for name, data in before.items())


def test_more_months_than_open_files_still_split_correctly(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_monthly, "MAX_OPEN_FILES", 3)
    rows = [[f"W{i % 5}", f"20{20 + i % 4}-{1 + i % 12:02d}", str(i)] for i in range(400)]   # 48 months interleaved
    src = _source(tmp_path, rows)
    monthly_deliveries(src, tmp_path / "inbox", "2099-12")
    files = sorted((tmp_path / "inbox" / "well_production").iterdir())
    assert len(files) == len({r[1] for r in rows})
    for path in files:
        header, body = _read(path)
        assert header == HEADER
        assert body == [r for r in rows if r[1] == path.stem.rsplit("_", 1)[1]]


def test_a_source_without_the_month_column_is_refused_naming_the_file(tmp_path):
    src = tmp_path / "source" / "gl"
    src.mkdir(parents=True)
    (src / "demo_gl.csv").write_text("journal_id,amount\nJ1,3\n")
    with pytest.raises(ValueError, match=r"demo_gl\.csv: no column 'transaction_date'"):
        monthly_deliveries(tmp_path / "source", tmp_path / "inbox", "2024-01")


def _split_peak_bytes(root: Path, n_rows: int) -> tuple[int, int]:
    """(source bytes, peak traced bytes) of delivering a source of ``n_rows`` rows over 12 months."""
    src = root / "source"
    (src / "well_production").mkdir(parents=True)
    path = src / "well_production" / "demo_production.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows([f"W{i % 97:05d}", f"2024-{1 + i % 12:02d}", f"{i * 1.5:.2f}"] for i in range(n_rows))
    tracemalloc.start()
    try:
        monthly_deliveries(src, root / "inbox", "2024-12")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return path.stat().st_size, peak


def test_memory_does_not_grow_with_the_source(tmp_path):
    """A source four times larger is split in the same memory (the split used to hold every row)."""
    small_bytes, small_peak = _split_peak_bytes(tmp_path / "small", 100_000)
    large_bytes, large_peak = _split_peak_bytes(tmp_path / "large", 400_000)
    assert large_bytes > 3.5 * small_bytes
    assert large_peak < 1.2 * small_peak + 256 * 1024
    assert large_peak < large_bytes / 4
