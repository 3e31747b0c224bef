"""Worker processes (:mod:`basinlab.workers`, the decline step's :mod:`basinlab.decline.workers`): results in
order, errors as from a direct call, bounded look-ahead, a clear error when a worker dies, scripts without
a main guard."""
import os
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basinlab import workers
from basinlab.decline import workers as decline_workers
from basinlab.decline.workers import default_workers
from basinlab.workers import BatchPool, WorkerError


@pytest.fixture(scope="module")
def pool():
    with BatchPool(2) as p:
        yield p


@settings(max_examples=25, deadline=None)
@given(values=st.lists(st.integers(-10**6, 10**6), max_size=12))
def test_results_come_back_in_the_order_of_the_calls(pool, values):
    assert list(pool.ordered((abs, (v,)) for v in values)) == [abs(v) for v in values]
    assert list(BatchPool(1).ordered((abs, (v,)) for v in values)) == [abs(v) for v in values]


@pytest.mark.parametrize("n_workers", [1, 2])
def test_an_error_of_the_task_is_raised_as_from_a_direct_call(pool, n_workers):
    p = pool if n_workers == 2 else BatchPool(1)
    with pytest.raises(ValueError, match="invalid literal"):
        list(p.ordered([(int, ("12",)), (int, ("not a number",))]))


def test_calls_are_taken_at_most_workers_plus_one_ahead(pool):
    taken = []

    def calls():
        for i in range(10):
            taken.append(i)
            yield abs, (-i,)

    seen = []
    for got in pool.ordered(calls()):
        seen.append(got)
        assert len(taken) <= len(seen) + pool.workers + 1
    assert seen == list(range(10))


@pytest.mark.parametrize(("make", "names"), [
    (lambda: BatchPool(2, what="demo"), "a demo worker .* set BASINLAB_THREADS=1"),
    (lambda: decline_workers.BatchPool(2), "a decline worker .* set BASINLAB_DECLINE_WORKERS=1"),
])
def test_a_worker_that_dies_gives_a_clear_error(make, names):
    with make() as p, pytest.raises(WorkerError, match=names):
        list(p.ordered([(abs, (1,)), (os._exit, (3,)), (abs, (2,))]))


def test_a_script_without_a_main_guard_runs_once(tmp_path):
    """Workers start from a fresh interpreter; the script that started them is not run again in each."""
    script = tmp_path / "no_guard.py"
    marker = tmp_path / "runs.txt"
    script.write_text(textwrap.dedent(f"""
        from basinlab.workers import BatchPool
        with open({str(marker)!r}, "a") as fh:
            fh.write("run\\n")
        with BatchPool(2) as pool:
            print(list(pool.ordered((abs, (-i,)) for i in range(5))))
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[0, 1, 2, 3, 4]"
    assert marker.read_text().splitlines() == ["run"]


# an environment variable holds no NUL and no lone surrogate (the OS cannot take them)
_ENV_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=6)


@given(text=st.one_of(_ENV_TEXT, st.integers(-3, 40).map(str),
                     st.sampled_from(["²", "٣", " 2 ", "1e3"])))
def test_worker_setting_is_a_whole_number_or_a_clear_error(text):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(decline_workers.ENV_WORKERS, text)
        stripped = text.strip()
        if not stripped:
            assert default_workers() >= 1
        elif stripped.isascii() and stripped.isdigit() and int(stripped) >= 1:
            assert default_workers() == int(stripped)
        else:
            with pytest.raises(ValueError, match=decline_workers.ENV_WORKERS):
                default_workers()


@pytest.mark.parametrize("n_workers", [1, 2])
def test_a_submitted_call_gives_its_result_or_its_error(pool, n_workers):
    p = pool if n_workers == 2 else BatchPool(1)
    jobs = [p.submit(int, "7f", base=16), p.submit(divmod, 17, 5), p.submit(int, "x", base=10)]
    assert jobs[0].result() == 127 and jobs[1].result() == (3, 2)
    with pytest.raises(ValueError, match="invalid literal"):
        jobs[2].result()


def test_workers_end_when_the_process_that_started_them_is_killed(tmp_path):
    """A kernel killed mid-step (the runner's timeout, an analyst) leaves no worker process behind."""
    import signal
    import time

    script = tmp_path / "killed.py"
    script.write_text(textwrap.dedent("""
        import os, time
        from basinlab.workers import BatchPool
        pool = BatchPool(2)
        print(" ".join(str(pool.submit(os.getpid).result()) for _ in range(2)), flush=True)
        time.sleep(600)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    workers_pids = [int(p) for p in proc.stdout.readline().split()]
    assert workers_pids and proc.pid not in workers_pids
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    def alive(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return not open(f"/proc/{pid}/stat").read().split(") ")[1].startswith("Z")

    deadline = time.monotonic() + 30 * workers.PARENT_CHECK_S
    while any(alive(p) for p in workers_pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in workers_pids)
