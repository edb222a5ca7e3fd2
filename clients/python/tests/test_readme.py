"""The README's Python guide runs as written: its install line in a fresh
virtualenv, then its example, against a live server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT, Server


def guide_blocks(heading: str, language: str) -> list[str]:
    """The ```language blocks under ``heading``, up to the next heading."""
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    # Headings only: a code block's own comments start with "#" too.
    following = re.compile(r"^#{1,3} ", re.MULTILINE)
    section = text[start:]
    blocks: list[str] = []
    for block in re.finditer(r"^```(\w*)\n(.*?)^```$", section, re.MULTILINE | re.DOTALL):
        heading_before = following.search(section, 0, block.start())
        if heading_before is not None:
            break
        if block.group(1) == language:
            blocks.append(block.group(2))
    return blocks


def test_the_readme_python_guide_runs_as_written(server: Server, tmp_path: Path) -> None:
    [install] = guide_blocks("### Python", "sh")
    [example] = guide_blocks("### Python", "python")
    # The guide runs from a checkout: give the scratch directory its clients/.
    (tmp_path / "clients").symlink_to(ROOT / "clients")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "VIRTUAL_ENV": str(venv)}
    env.pop("PYTHONPATH", None)
    installed = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", install],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr

    ran = subprocess.run(
        [str(venv / "bin" / "python"), "-c", example.replace("127.0.0.1:50051", server.address)],
        cwd=tmp_path,
        env={**env, "PATCHBAY_TOKEN": server.token()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    lines = ran.stdout.splitlines()
    assert "projects/acme/connections/web" in lines
    assert any("NOT_FOUND" in line for line in lines), ran.stdout
    assert any(line.endswith(" snapshot_end") for line in lines), ran.stdout
