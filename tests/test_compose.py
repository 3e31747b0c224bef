"""docker-compose.yml, the Dockerfile and docker/ checked statically (no Docker engine needed):
everything they name exists, the commands are valid for the real CLI, the lab reads the warehouse
read-only, and the scheduler script picks the right month and retries failed runs."""
from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import signal
import subprocess
import time
import tomllib
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from basinlab import cli, config
from basinlab.context import previous_month

REPO = config.REPO_ROOT
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
SCHEDULER = REPO / "docker" / "scheduler.sh"
ENV_DEFAULT = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Compose-style ``${VAR:-default}`` with the defaults (or ``env``)."""
    env = env or {}
    return ENV_DEFAULT.sub(lambda m: env.get(m.group(1), m.group(2) or ""), str(value))


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


# --------------------------------------------------------------------------- Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, buf = [], ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    assert not buf, "Dockerfile ends inside a continuation line"
    return out


def args_of(text: str) -> list[str]:
    """A Dockerfile exec-form (JSON) or shell-form argument list."""
    return json.loads(text) if text.lstrip().startswith("[") else shlex.split(text)


def copies() -> list[tuple[list[str], str]]:
    out = []
    for ins, rest in dockerfile_instructions():
        if ins in ("COPY", "ADD"):
            parts = [p for p in args_of(rest) if not p.startswith("--")]
            out.append((parts[:-1], parts[-1]))
    return out


def workdir() -> str:
    dirs = [rest for ins, rest in dockerfile_instructions() if ins == "WORKDIR"]
    assert dirs, "the Dockerfile sets no WORKDIR"
    return dirs[-1]


def env_vars() -> dict[str, str]:
    env = {}
    for ins, rest in dockerfile_instructions():
        if ins == "ENV":
            for tok in shlex.split(rest):
                k, _, v = tok.partition("=")
                env[k] = v
    return env


def runs() -> str:
    return "\n".join(rest for ins, rest in dockerfile_instructions() if ins == "RUN")


def test_dockerfile_base_image_user_and_environment():
    froms = [rest for ins, rest in dockerfile_instructions() if ins == "FROM"]
    assert froms == ["python:3.11-slim-bookworm"]
    users = [rest for ins, rest in dockerfile_instructions() if ins == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image must run as a non-root user"
    env = env_vars()
    assert env["PLOOMBER_STATS_ENABLED"] == "false"
    assert env["BASINLAB_DATA_DIR"] == "/data"
    assert env["BASINLAB_REPORTS_DIR"] == "/reports"
    assert env["BASINLAB_BROWSER"] == "/usr/bin/chromium"


def test_dockerfile_installs_debian_chromium():
    r = runs()
    assert re.search(r"apt-get install[^&;]*\bchromium\b", r), "the image must apt-get install chromium (the PDF)"
    assert "rm -rf /var/lib/apt/lists" in r


def test_dockerfile_copy_sources_exist_and_are_not_dockerignored():
    ignored = [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines()
               if ln.strip() and not ln.startswith("#")]
    srcs = [s for sources, _ in copies() for s in sources]
    assert srcs, "the Dockerfile copies nothing"
    for src in srcs:
        assert (REPO / src).exists(), f"COPY source {src} does not exist in the repo"
        clean = src.rstrip("/")
        hit = [pat for pat in ignored if fnmatch.fnmatch(clean, pat.rstrip("/"))]
        assert not hit, f"COPY source {src} is excluded by .dockerignore {hit}"


def test_image_keeps_the_repo_layout_the_package_resolves_paths_from():
    """config.REPO_ROOT is lib/basinlab/../..: lib/, sql/ and notebooks/ must sit together in WORKDIR,
    and the package must be installed editable from there (a plain `pip install .` loses sql/)."""
    wd = workdir()
    landed = {}
    for sources, dest in copies():
        dest_abs = os.path.normpath(os.path.join(wd, dest))
        for src in sources:
            into_dir = (REPO / src).is_dir() is False and (dest.endswith("/") or dest in (".", "./")
                                                          or len(sources) > 1)
            landed[src.rstrip("/")] = os.path.join(dest_abs, Path(src).name) if into_dir else dest_abs
    for name in ("lib", "sql", "notebooks", "docker", "pyproject.toml", "README.md"):
        assert landed.get(name) == os.path.join(wd, name), f"{name} must be copied to {wd}/{name}: {landed}"
    assert re.search(r"pip install (-e|--editable) \.", runs()), \
        "install editable: basinlab finds sql/ and notebooks/ from the package location"


def test_dockerfile_default_command_is_valid_for_the_cli():
    cmds = [args_of(rest) for ins, rest in dockerfile_instructions() if ins == "CMD"]
    assert cmds
    assert_valid_command(cmds[-1])


# --------------------------------------------------------------------------- compose


def test_two_services_built_from_the_dockerfile(compose, services):
    assert {"lab", "scheduler"} <= set(services)
    for name in ("lab", "scheduler"):
        build = services[name]["build"]
        ctx = REPO / (build if isinstance(build, str) else build.get("context", "."))
        assert ctx.resolve() == REPO.resolve(), f"{name} builds from {ctx}, not the repo"
        dockerfile = ctx / (build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile")
        assert dockerfile.resolve() == DOCKERFILE.resolve() and DOCKERFILE.exists()


def volumes_of(service: dict) -> list[tuple[str, str, str]]:
    """Short- or long-syntax volumes as (source, target, mode)."""
    out = []
    for v in service.get("volumes", []):
        if isinstance(v, dict):
            out.append((v.get("source", ""), v["target"], "ro" if v.get("read_only") else "rw"))
        else:
            parts = interpolate(v).split(":")
            out.append((parts[0], parts[1], parts[2] if len(parts) > 2 else "rw"))
    return out


def test_volume_sources_exist_or_are_declared(compose, services):
    declared = set(compose.get("volumes") or {})
    for name, svc in services.items():
        for src, target, mode in volumes_of(svc):
            assert target.startswith("/"), f"{name}: volume target {target} must be absolute"
            assert set(mode.split(",")) <= {"ro", "rw", "z", "Z", "cached", "delegated", "consistent"}, mode
            if src.startswith((".", "/", "~")):
                host = (REPO / src).resolve()
                assert host.is_relative_to(REPO.resolve()), f"{name}: {src} is outside the repo"
                assert host.is_dir(), f"{name}: bind-mount source {src} does not exist in the repo"
            else:
                assert src in declared, f"{name}: named volume {src} is not declared under volumes:"


def mounts(svc: dict) -> dict[str, tuple[str, str]]:
    return {target: (src, mode) for src, target, mode in volumes_of(svc)}


def test_data_and_reports_are_the_projects_dirs(services):
    """./data and ./reports are the project's own default dirs (config), the inbox is ./data/inbox."""
    for name in ("lab", "scheduler"):
        m = mounts(services[name])
        assert (REPO / m["/data"][0]).resolve() == (REPO / "data").resolve() == config.Paths.resolve(
            REPO / "data").data_dir
        assert (REPO / m["/reports"][0]).resolve() == (REPO / "reports").resolve()
        env = {k: interpolate(v) for k, v in environment(services[name]).items()}
        assert env.get("BASINLAB_DATA_DIR", env_vars()["BASINLAB_DATA_DIR"]) == "/data"
        assert env.get("BASINLAB_REPORTS_DIR", env_vars()["BASINLAB_REPORTS_DIR"]) == "/reports"
    assert config.Paths.resolve("/data").inbox == Path("/data/inbox")


def test_lab_mounts_data_and_reports_read_only(services):
    m = mounts(services["lab"])
    assert "ro" in m["/data"][1].split(","), "the lab must mount the data volume read-only"
    assert "ro" in m["/reports"][1].split(","), "the lab must mount the reports volume read-only"


def test_scheduler_writes_data_and_reports(services):
    m = mounts(services["scheduler"])
    assert "ro" not in m["/data"][1].split(",") and "ro" not in m["/reports"][1].split(",")


def test_lab_publishes_port_8888(services):
    ports = [interpolate(p) if not isinstance(p, dict) else f"{p.get('published')}:{p['target']}"
             for p in services["lab"].get("ports", [])]
    assert any(p.split(":")[-1].split("/")[0] == "8888" for p in ports), ports
    assert any(p.split(":")[-2] == "8888" for p in ports if p.count(":") >= 1), ports


def environment(svc: dict) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return {k: str(v) for k, v in env.items()}


def test_scheduler_runs_the_demo_by_default(services):
    env = environment(services["scheduler"])
    assert interpolate(env["BASINLAB_DEMO"]) == "1"
    assert interpolate(env["BASINLAB_DEMO"], {"BASINLAB_DEMO": "0"}) == "0", "BASINLAB_DEMO=0 must switch it off"


def command_of(svc: dict) -> list[str]:
    cmd = svc.get("command")
    return shlex.split(cmd) if isinstance(cmd, str) else list(cmd)


def assert_valid_command(cmd: list[str]) -> None:
    """The executable exists in the image: the declared console script or a script under docker/."""
    exe = cmd[0]
    if exe == "basinlab":
        scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
        assert scripts.get("basinlab") == "basinlab.cli:main"
        cli.build_parser().parse_args(cmd[1:])  # argparse exits (SystemExit) on an invalid command
    else:
        wd = workdir()
        assert exe.startswith(f"{wd}/docker/") or exe.startswith("docker/"), f"unknown executable {exe}"
        script = REPO / "docker" / Path(exe).name
        assert script.is_file(), f"{exe}: {script} does not exist"
        assert os.access(script, os.X_OK), f"{script} is not executable"
        assert script.read_text().startswith("#!/usr/bin/env bash\n") or script.read_text().startswith("#!/bin/bash")
        res = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr


def test_every_command_is_valid(services):
    for svc in services.values():
        assert_valid_command(command_of(svc))


def test_lab_command_listens_on_all_interfaces_without_a_browser(services):
    cmd = command_of(services["lab"])
    assert cmd[:2] == ["basinlab", "lab"]
    args = cli.build_parser().parse_args(cmd[1:])
    assert (args.ip, args.port, args.no_browser) == ("0.0.0.0", 8888, True)


def test_scheduler_command_is_the_scheduler_script(services):
    assert Path(command_of(services["scheduler"])[0]).name == SCHEDULER.name


def test_every_script_in_docker_is_executable_and_parses():
    scripts = sorted((REPO / "docker").glob("*.sh"))
    assert SCHEDULER in scripts
    for s in scripts:
        assert os.access(s, os.X_OK), f"{s} is not executable"
        res = subprocess.run(["bash", "-n", str(s)], capture_output=True, text=True)
        assert res.returncode == 0, f"{s}: {res.stderr}"


# --------------------------------------------------------------------------- the scheduler script


def scheduler(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCHEDULER), *args], capture_output=True, text=True, timeout=timeout,
                          env=os.environ | (env or {}))


@pytest.mark.parametrize("today,expected", [
    ("2025-01-15", "2024-12"), ("2025-01-01", "2024-12"), ("2025-03-31", "2025-02"),
    ("2024-12-01", "2024-11"), ("2024-10-09", "2024-09"), ("2000-02-29", "2000-01"),
])
def test_scheduler_month_is_the_previous_calendar_month(today, expected):
    res = scheduler("--print-month", "--today", today)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == expected


def test_scheduler_month_agrees_with_basinlab_for_every_month():
    for d in (date(2023, 1, 1) + timedelta(days=n) for n in range(0, 760, 29)):
        res = scheduler("--print-month", "--today", d.isoformat())
        assert res.stdout.strip() == previous_month(d), d


@pytest.mark.parametrize("bad", ["2025-13-01", "2025-1-15", "yesterday", ""])
def test_scheduler_refuses_a_bad_date(bad):
    res = scheduler("--print-month", "--today", bad)
    assert res.returncode == 2 and "YYYY-MM-DD" in res.stderr, res.stderr


@pytest.fixture
def fake_basinlab(tmp_path):
    """A stand-in `basinlab` that records its arguments and exits with $FAKE_RC."""
    calls = tmp_path / "calls.txt"
    exe = tmp_path / "basinlab"
    exe.write_text(f'#!/usr/bin/env bash\necho "$*" >> {calls}\nexit "${{FAKE_RC:-0}}"\n')
    exe.chmod(0o755)
    reports = tmp_path / "reports"
    reports.mkdir()
    env = {"BASINLAB_BIN": str(exe), "BASINLAB_REPORTS_DIR": str(reports), "BASINLAB_DEMO": "0"}
    return env, calls, reports


def calls_of(calls: Path) -> list[str]:
    return calls.read_text().splitlines() if calls.exists() else []


def test_scheduler_runs_the_previous_month_when_its_report_is_missing(fake_basinlab):
    env, calls, _ = fake_basinlab
    res = scheduler("--once", "--today", "2025-01-15", env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert calls_of(calls) == ["run --month 2024-12"]
    assert "2024-12" in res.stdout and "succeeded" in res.stdout


def test_scheduler_demo_flag(fake_basinlab):
    env, calls, _ = fake_basinlab
    res = scheduler("--once", "--today", "2025-01-15",
                    env=env | {"BASINLAB_DEMO": "1", "BASINLAB_DEMO_WELLS": "12", "BASINLAB_DEMO_MONTHS": "24"})
    assert res.returncode == 0, res.stdout + res.stderr
    assert calls_of(calls) == ["run --month 2024-12 --demo --wells 12 --months 24"]


def test_scheduler_skips_a_month_whose_report_exists(fake_basinlab):
    env, calls, reports = fake_basinlab
    # the same path the runner publishes: <reports>/<month>/basinlab_<month>.pdf
    pdf = config.Paths.resolve(reports_dir=reports).month_reports("2024-12") / "basinlab_2024-12.pdf"
    pdf.parent.mkdir(parents=True)
    pdf.write_bytes(b"%PDF-1.4\n")
    res = scheduler("--once", "--today", "2025-01-15", env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert calls_of(calls) == [], "a month with a report must not be run again"
    assert "already exists" in res.stdout


def test_scheduler_logs_a_failed_run_with_its_exit_code(fake_basinlab):
    env, calls, _ = fake_basinlab
    res = scheduler("--once", "--today", "2025-01-15", env=env | {"FAKE_RC": "1"})
    assert res.returncode == 1
    assert calls_of(calls) == ["run --month 2024-12"]
    assert "ERROR" in res.stdout and "exit 1" in res.stdout and "2024-12" in res.stdout, res.stdout


def test_scheduler_loop_retries_after_a_failure_and_stops_on_sigterm(fake_basinlab, tmp_path):
    env, calls, _ = fake_basinlab
    log = tmp_path / "scheduler.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([str(SCHEDULER)], stdout=fh, stderr=subprocess.STDOUT,
                                env=os.environ | env | {"FAKE_RC": "3", "BASINLAB_SCHEDULE_SECONDS": "1"})
    try:
        deadline = time.monotonic() + 60
        while len(calls_of(calls)) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert proc.poll() is None, "the loop must survive a failed run: " + log.read_text()
        assert len(calls_of(calls)) >= 2, "the failed month is retried at the next check: " + log.read_text()
        month = previous_month()
        assert set(calls_of(calls)) == {f"run --month {month}"}
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)
    assert rc == 0, log.read_text()
    text = log.read_text()
    assert "exit 3" in text and "stopping" in text


def test_scheduler_rejects_unknown_arguments():
    res = scheduler("--bogus")
    assert res.returncode == 2 and "--bogus" in res.stderr


# --------------------------------------------------------------------------- the data API and the puller


def test_api_and_puller_are_built_from_the_same_image(services):
    for name in ("api", "puller"):
        assert services[name]["image"] == services["scheduler"]["image"]
        build = services[name]["build"]
        assert (REPO / build["context"]).resolve() == REPO.resolve() and build["dockerfile"] == "Dockerfile"


def test_api_serves_on_all_interfaces_on_its_published_loopback_port(services):
    api = services["api"]
    args = cli.build_parser().parse_args(command_of(api)[1:])
    assert args.fn is cli.cmd_serve and args.host == "0.0.0.0"
    ports = [interpolate(p) for p in api["ports"]]
    assert ports == [f"127.0.0.1:{args.port}:{args.port}"], "publish the API on the host's loopback only"
    assert str(args.port) in DOCKERFILE.read_text().split("EXPOSE", 1)[1].splitlines()[0].split()
    probe = " ".join(api["healthcheck"]["test"])
    assert f"127.0.0.1:{args.port}/health" in probe  # /health needs no key


def test_api_reads_the_projects_data_and_reports_and_may_start_runs(services):
    m = mounts(services["api"])
    assert (REPO / m["/data"][0]).resolve() == (REPO / "data").resolve()
    assert (REPO / m["/reports"][0]).resolve() == (REPO / "reports").resolve()
    # POST /runs starts the runner in this container: it writes data/ (builds, publish) and reports/
    assert "ro" not in m["/data"][1].split(",") and "ro" not in m["/reports"][1].split(",")
    assert services["api"]["shm_size"] == services["scheduler"]["shm_size"], "runs print PDFs with Chromium"


def test_puller_pulls_the_api_stream_into_the_inbox_with_a_key_from_the_environment(services, compose):
    pl = services["puller"]
    args = cli.build_parser().parse_args(command_of(pl)[1:])
    api_args = cli.build_parser().parse_args(command_of(services["api"])[1:])
    assert args.fn is cli.cmd_pull and args.source == "gl" and args.follow
    assert args.url == f"http://api:{api_args.port}", "the puller must reach the api service by name"
    assert "api" in (pl["depends_on"] if isinstance(pl["depends_on"], list) else list(pl["depends_on"]))
    m = mounts(pl)
    assert (REPO / m["/data"][0]).resolve() == (REPO / "data").resolve() and "ro" not in m["/data"][1]
    key = environment(pl)["BASINLAB_API_KEY"]
    assert ENV_DEFAULT.fullmatch(key) and ENV_DEFAULT.fullmatch(key).group(1) == "BASINLAB_API_KEY"
    assert interpolate(key, {"BASINLAB_API_KEY": "blk_x"}) == "blk_x"
    assert pl.get("profiles") == ["pull"], "without a key the puller cannot run: it starts on request only"


def test_no_secret_is_written_into_compose():
    text = COMPOSE.read_text()
    assert not re.search(r"blk_[0-9a-f]{8}_", text) and "EIA_API_KEY:" not in text.replace("${EIA_API_KEY", "")


def test_the_service_dependencies_are_installed_by_the_image():
    deps = " ".join(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"])
    for pkg in ("fastapi", "uvicorn", "httpx"):
        assert re.search(rf"\b{pkg}\b", deps), f"{pkg} must be a runtime dependency (the image installs those)"
    assert "pip install --editable ." in runs()
