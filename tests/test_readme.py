"""The README's two commands are the ones CI runs and the ones that work."""

from __future__ import annotations

import re

from tests.helpers import REPO


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(.+?)\n```", text)[:2]


def test_readme_starts_with_the_run_and_test_commands() -> None:
    run, test = _readme_commands()
    assert run.endswith("hpsearch run digits-quick")
    assert "pytest" in test


def test_ci_runs_the_readme_test_command_word_for_word() -> None:
    _, test = _readme_commands()
    ci_lines = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test in ci_lines
