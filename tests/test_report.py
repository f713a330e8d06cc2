"""The HTML report opens in a real headless browser, offline, without errors, with its plots."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.helpers import run_cli

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
)


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Chromium is needed for this test (Debian package chromium; .ci/run installs it)"
    return found


def test_report_renders_its_plots_in_headless_chromium(studies: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = studies
    page = tmp_path / "report.html"
    result = run_cli("report", "beats-baseline", "--storage", url, "--out", str(page))
    assert result.returncode == 0, result.stderr
    text = page.read_text()
    # plotly.js is inline (no <script src="https://...">), so the page works offline.
    assert not re.search(r'<script[^>]*\bsrc="https?://', text)
    for title in ("Optimization history", "Parameter importances", "Parallel coordinates", "Learning curves",
                  "Accuracy against cost"):
        assert title in text

    browser = subprocess.run(
        [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert browser.returncode == 0, browser.stderr[-2000:]
    dom = browser.stdout
    rendered = dom.count('class="main-svg"')
    assert rendered >= 6, f"only {rendered} plot layers rendered"  # each plot draws two main-svg layers
    console_errors = [line for line in browser.stderr.splitlines() if "CONSOLE" in line and "Uncaught" in line]
    assert not console_errors, console_errors
    assert "improvement over the best baseline" in dom


def test_report_of_a_missing_study_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("report", "ghost", "--storage", f"sqlite:///{tmp_path}/none.db", "--out", str(tmp_path / "r.html"))
    assert result.returncode == 2 and "no study named 'ghost'" in result.stderr
