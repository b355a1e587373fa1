"""Packaging (item 7): the wheel ships templates, samples and the example config, and
`mailbot demo` runs from a fresh venv in any directory. Needs PyPI for the build backend
and the dependencies."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = {p.name for p in (ROOT / "mailbot" / "samples").glob("*.eml")}
TEMPLATES = {
    f"{lang}/{p.name}" for lang in ("nl", "en") for p in (ROOT / "templates" / lang).glob("*.txt")
}


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_wheel_installs_into_fresh_venv_and_demo_runs_anywhere(tmp_path: Path) -> None:
    """The built wheel holds every template, sample and config.example.toml; installed
    (not editable) into a new venv, `mailbot demo` runs from an unrelated folder."""
    dist = tmp_path / "dist"
    built = _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, ROOT, cwd=tmp_path
    )
    assert built.returncode == 0, built.stderr
    [wheel] = dist.glob("mailbot-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "mailbot/config.example.toml",
        *(f"mailbot/samples/{name}" for name in SAMPLES),
        *(f"mailbot/templates/{name}" for name in TEMPLATES),
    }
    assert "nl/acknowledgement.txt" in TEMPLATES
    assert sorted(expected - names) == []

    venv = tmp_path / "venv"
    assert _run(sys.executable, "-m", "venv", venv, cwd=tmp_path).returncode == 0
    installed = _run(venv / "bin" / "python", "-m", "pip", "install", "-q", wheel, cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = _run(
        venv / "bin" / "python", "-c", "import mailbot; print(mailbot.__file__)", cwd=elsewhere
    )
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr
    demo = _run(venv / "bin" / "mailbot", "demo", cwd=elsewhere)
    assert demo.returncode == 0, demo.stderr
    assert "The first acknowledgement, as the reporter receives it:" in demo.stdout
    assert "Subject: [MK-" in demo.stdout
    assert sorted(p.name for p in elsewhere.iterdir()) == []
