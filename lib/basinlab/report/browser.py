"""Find a Chromium-family browser and print HTML to PDF with it (headless)."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from ..config import is_whole_number
from ._common import BrowserNotFoundError, ReportError, atomic_path

#: Environment variables consulted first, in order.
BROWSER_ENV_VARS = ("BASINLAB_BROWSER", "BROWSER_PATH")

#: Executable names looked up on ``PATH``, in order.
BROWSER_NAMES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
    "msedge",
)

INSTALL_HELP = """\
No Chromium-family browser found (needed to print the report PDF). Install one:
  - Debian/Ubuntu:  sudo apt-get install chromium
  - macOS:          install Google Chrome (https://www.google.com/chrome/)
  - Windows:        install Google Chrome or use the preinstalled Microsoft Edge
  - anywhere with internet access, inside this venv:
                    pip install kaleido && plotly_get_chrome -y
or point basinlab at an existing browser: export BASINLAB_BROWSER=/path/to/chrome"""


def _is_executable(p: Path) -> bool:
    return p.is_file() and os.access(p, os.X_OK)


def _install_locations() -> list[Path]:
    """Usual install locations on macOS and Windows (not on PATH there)."""
    paths: list[Path] = []
    home = Path.home()
    if sys.platform == "darwin":
        for root in (Path("/Applications"), home / "Applications"):
            paths += [
                root / "Google Chrome.app/Contents/MacOS/Google Chrome",
                root / "Chromium.app/Contents/MacOS/Chromium",
                root / "Microsoft Edge.app/Contents/MacOS/Microsoft Edge",
                root / "Google Chrome Canary.app/Contents/MacOS/Google Chrome Canary",
                root / "Brave Browser.app/Contents/MacOS/Brave Browser",
            ]
    elif os.name == "nt":
        roots = [os.environ.get(v) for v in ("PROGRAMFILES", "PROGRAMFILES(X86)", "LOCALAPPDATA")]
        for root in filter(None, roots):
            r = Path(root)
            paths += [
                r / "Google/Chrome/Application/chrome.exe",
                r / "Microsoft/Edge/Application/msedge.exe",
                r / "Chromium/Application/chrome.exe",
            ]
    else:
        paths += [Path("/snap/bin/chromium")]
    return paths


def _choreographer_dirs() -> list[Path]:
    """Where ``plotly_get_chrome`` (kaleido 1.x / choreographer) downloads Chrome.

    choreographer uses ``PlatformDirs("choreographer", "plotly").user_data_dir / "deps"``
    (older releases: ``<choreographer package>/cli/browser_exe``).
    """
    dirs: list[Path] = []
    try:  # exact location when choreographer is installed
        from choreographer.cli import defaults as _d  # type: ignore[import-not-found]

        dirs.append(Path(_d.default_download_path))
        if getattr(_d, "old_download_path", None):
            dirs.append(Path(_d.old_download_path))
    except Exception:  # noqa: BLE001 - optional dependency, any import problem means "absent"
        pass
    home = Path.home()
    if sys.platform == "darwin":
        dirs.append(home / "Library/Application Support/choreographer/deps")
    elif os.name == "nt":
        local = os.environ.get("LOCALAPPDATA")
        if local:
            dirs.append(Path(local) / "plotly/choreographer/deps")
    else:
        xdg = os.environ.get("XDG_DATA_HOME") or str(home / ".local/share")
        dirs.append(Path(xdg) / "choreographer/deps")
    return list(dict.fromkeys(dirs))


_CHOREO_GLOBS = (
    "chrome-linux64/chrome",
    "chrome-linux*/chrome",
    "chrome-mac-*/Google Chrome for Testing.app/Contents/MacOS/Google Chrome for Testing",
    "chrome-win64/chrome.exe",
    "chrome-win32/chrome.exe",
    "*/chrome-linux64/chrome",
    "*/chrome-mac-*/Google Chrome for Testing.app/Contents/MacOS/Google Chrome for Testing",
    "*/chrome-win64/chrome.exe",
)


def _plotly_chrome_candidates() -> list[Path]:
    found: list[Path] = []
    for d in _choreographer_dirs():
        if not d.is_dir():
            continue
        for pattern in _CHOREO_GLOBS:
            found += sorted(d.glob(pattern))
    return found


def _resolve_override(value: str, var: str) -> Path:
    p = Path(value).expanduser()
    if _is_executable(p):
        return p
    which = shutil.which(value)
    if which:
        return Path(which)
    raise BrowserNotFoundError(
        f"{var}={value!r} does not point to an executable browser.\n{INSTALL_HELP}"
    )


def find_browser() -> Path:
    """Locate a Chromium-family browser for headless PDF printing.

    Order: ``$BASINLAB_BROWSER``, ``$BROWSER_PATH`` (an explicit override that
    does not exist is an error, not silently skipped), then ``chromium``,
    ``chromium-browser``, ``google-chrome``, ``google-chrome-stable``, ``chrome``,
    ``msedge`` on ``PATH``, then the usual macOS / Windows install locations,
    then a Chrome downloaded by ``plotly_get_chrome``.

    Raises :class:`BrowserNotFoundError` with install instructions if none is found.
    """
    for var in BROWSER_ENV_VARS:
        value = os.environ.get(var, "").strip()
        if value:
            return _resolve_override(value, var)
    for name in BROWSER_NAMES:
        which = shutil.which(name)
        if which:
            return Path(which)
    for p in _install_locations() + _plotly_chrome_candidates():
        if _is_executable(p):
            return p
    raise BrowserNotFoundError(INSTALL_HELP)


# --------------------------------------------------------------------------- printing

#: stderr lines from Chromium that are noise on a headless server.
_NOISE = re.compile(
    r"dbus|Failed to connect to the bus|object_proxy\.cc|Fontconfig|unexpected operator"
    r"|bytes written to file|DevTools listening|gcm|Floss|bluez|UPower|sandbox_linux"
    r"|ALSA|pulse|vaapi|VA-API|viz_main|gpu_init|angle_platform|GLES|libva|crashpad"
    r"|ssl_client_socket|registration_request|ERROR:google_apis",
    re.IGNORECASE,
)


def _filter_noise(text: str, keep: int = 25) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip() and not _NOISE.search(ln)]
    return "\n".join(lines[-keep:])


CHROMIUM_PRINT_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--hide-scrollbars",
    "--no-pdf-header-footer",
    "--print-to-pdf-no-header",
    "--virtual-time-budget=5000",
)


#: temp folders of a print: ``basinlab-browser-<pid of the printing process>-xxxx`` (the browser
#: profile) — the pid lets a later run tell a dead printer's leftovers from a live one's
PROFILE_PREFIX = "basinlab-browser-"
#: temp folders of the HTML printed (``render.notebook_to_pdf``), named the same way
HTML_TMP_PREFIX = "basinlab-report-"


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the browser and every helper in its process group (it runs in its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the browser gets SIGKILL when the process that started it dies (even by SIGKILL),
    so a killed run leaves no browser behind."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort; the group kill and the stale sweep remain
        pass


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _processes_using(folder: Path) -> list[int]:
    """Pids (Linux /proc) whose command line names ``folder`` (a browser using that profile)."""
    needle = str(folder).encode()
    pids = []
    proc_root = Path("/proc")
    if not proc_root.is_dir():
        return pids
    for entry in proc_root.iterdir():
        if not is_whole_number(entry.name):
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline and int(entry.name) != os.getpid():
            pids.append(int(entry.name))
    return pids


#: Chromium puts a unix socket in $TMPDIR/org.chromium.Chromium.XXXXXX/; socket paths are limited to
#: 107 bytes, and a longer TMPDIR makes it abort ("Socket path too long")
_MAX_TMPDIR_CHARS = 60


def _socket_safe_tmp() -> str:
    tmp = tempfile.gettempdir()
    if len(tmp) <= _MAX_TMPDIR_CHARS:
        return tmp
    for short in ("/tmp", "/var/tmp", "/dev/shm"):
        if os.path.isdir(short) and os.access(short, os.W_OK | os.X_OK):
            return short
    return tmp


def cleanup_stale_profiles(tmp_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Remove browser profiles (and kill their browsers) left by printing processes that died.

    A profile folder is named after the pid of the process that printed; when that pid
    is gone (the run was killed while the PDF printed), any browser process still using
    the folder is killed and the folder deleted. Profiles of live processes are left
    alone. Returns the folders removed.
    """
    root = Path(tmp_dir or tempfile.gettempdir())
    removed: list[Path] = []
    try:
        candidates = sorted([*root.glob(f"{PROFILE_PREFIX}*"), *root.glob(f"{HTML_TMP_PREFIX}*")])
    except OSError:
        return removed
    for folder in candidates:
        prefix = PROFILE_PREFIX if folder.name.startswith(PROFILE_PREFIX) else HTML_TMP_PREFIX
        pid_text = folder.name[len(prefix):].split("-", 1)[0]
        if not is_whole_number(pid_text) or pid_alive(int(pid_text)) or not folder.is_dir():
            continue
        for pid in _processes_using(folder):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
    return removed


def html_to_pdf(
    html: str | os.PathLike[str],
    pdf_out: str | os.PathLike[str],
    browser: str | os.PathLike[str] | None = None,
    timeout_s: float = 120,
) -> Path:
    """Print ``html`` to ``pdf_out`` with a headless Chromium-family browser.

    The browser runs with a fresh temporary profile and no network side-traffic,
    in its own process group, which is killed whatever happens (printed, failed,
    timed out, or the run stopped by a signal); on Linux it also dies with the
    process that started it, so a killed run leaves no browser behind (and
    :func:`cleanup_stale_profiles` removes the profile of a printer that died).
    The PDF is written to a temporary file beside ``pdf_out`` and renamed into
    place only if it is a real PDF, so an existing ``pdf_out`` survives a failure.
    Raises :class:`ReportError` (with the browser's filtered stderr) on failure.
    """
    from ..faults import fault_point

    html = Path(html).resolve()
    pdf_out = Path(pdf_out).resolve()
    if not html.is_file():
        raise ReportError(f"HTML file to print does not exist: {html}")
    exe = Path(browser) if browser else find_browser()

    with tempfile.TemporaryDirectory(prefix=f"{PROFILE_PREFIX}{os.getpid()}-", ignore_cleanup_errors=True) as profile, \
            atomic_path(pdf_out, suffix=".tmp.pdf") as tmp:
        cmd = [
            str(exe),
            *CHROMIUM_PRINT_FLAGS,
            f"--user-data-dir={profile}",
            f"--print-to-pdf={tmp}",
            html.as_uri(),
        ]
        env = dict(os.environ)
        env.setdefault("HOME", profile)
        env["TMPDIR"] = _socket_safe_tmp()
        posix = os.name == "posix"
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=posix,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        except OSError as e:
            raise ReportError(f"could not start the browser {exe}: {e}") from e
        try:
            fault_point("pdf")
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_tree(proc)
            try:
                out, err = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:  # a helper outside the group holds the pipes
                proc.kill()
                out, err = b"", b""
            tail = _filter_noise((err + out).decode("utf-8", "replace"))
            raise ReportError(
                f"browser {exe} did not finish printing {html.name} within {timeout_s:.0f} s"
                + (f"; browser output:\n{tail}" if tail else "")
            ) from None
        except BaseException:  # the run was stopped (SIGTERM, Ctrl-C) while printing
            _kill_tree(proc)
            with contextlib.suppress(Exception):
                proc.communicate(timeout=10)
            raise
        finally:
            # Headless Chromium can leave helper processes behind in its group.
            _kill_tree(proc)

        size = tmp.stat().st_size if tmp.exists() else 0
        head = b""
        if size:
            with open(tmp, "rb") as fh:
                head = fh.read(5)
        if proc.returncode != 0 or size == 0 or not head.startswith(b"%PDF"):
            tail = _filter_noise((err + out).decode("utf-8", "replace"))
            raise ReportError(
                f"browser {exe} failed to print {html} to PDF "
                f"(exit code {proc.returncode}, {size} bytes written)"
                + (f"; browser output:\n{tail}" if tail else "")
            )
    return pdf_out


# --------------------------------------------------------------------------- set-up


def ensure_browser(install: bool = True, say=print) -> Path:
    """Find a browser, or install one where that can be done unattended.

    Debian/Ubuntu as root: ``apt-get install chromium``. Elsewhere, with
    internet: plotly's ``plotly_get_chrome``. Otherwise raise
    :class:`BrowserNotFoundError` saying exactly what to install.
    """
    try:
        return find_browser()
    except BrowserNotFoundError:
        if not install:
            raise
    if os.name == "posix" and os.geteuid() == 0 and shutil.which("apt-get"):
        say("basinlab: no Chromium-family browser found; installing Debian's chromium (apt-get) …")
        env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=False, env=env)
    elif shutil.which("plotly_get_chrome"):
        say("basinlab: no Chromium-family browser found; fetching one with plotly_get_chrome …")
        subprocess.run(["plotly_get_chrome", "-y"], check=False)
    return find_browser()


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m basinlab.report.browser",
                                 description="Find (and with --ensure, install) the browser that prints PDFs.")
    ap.add_argument("--ensure", action="store_true", help="install one when none is found and that is possible")
    a = ap.parse_args(argv)
    try:
        path = ensure_browser(install=a.ensure)
    except BrowserNotFoundError as exc:
        print(f"basinlab: {exc}", file=sys.stderr)
        return 1
    print(f"PDF browser: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
