"""The README's first example, run as a user runs it, prints exactly the output the README shows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


def _readme() -> Path:
    here = Path(__file__).resolve()
    for base in [Path.cwd(), *here.parents]:
        candidate = base / "packages" / "saga-graphs" / "README.md"
        if candidate.is_file():
            return candidate
    raise AssertionError(
        "packages/saga-graphs/README.md not found (Pants: depend on packages/saga-graphs:readme)"
    )


def example_and_output(text: str) -> tuple[str, str]:
    """The first ```python block and the first ```text block after it (the output it documents)."""
    code = re.search(r"^```python\n(.*?)^```", text, re.S | re.M)
    assert code, "README has no ```python example"
    shown = re.compile(r"^```text\n(.*?)^```", re.S | re.M).search(text, code.end())
    assert shown, "README shows no ```text output after its first example"
    return code.group(1), shown.group(1)


def test_example_and_output_are_found() -> None:
    code, out = example_and_output("x\n```python\nprint(1)\n```\nprints\n\n```text\n1\n```\n")
    assert (code, out) == ("print(1)\n", "1\n")


@pytest.mark.timeout(120)
def test_first_readme_example_prints_exactly_the_documented_lines(tmp_path: Path) -> None:
    code, expected = example_and_output(_readme().read_text())
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(os.path.abspath(p) for p in sys.path if p))
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=100, env=env, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected  # no log line above, between or below the result
    assert proc.stderr == ""
