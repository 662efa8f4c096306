"""The documentation: generated references up to date, links that resolve, a short README."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from pydantic import BaseModel

from twin.cli import app
from twin.reference import REFERENCES, cli_reference, settings_reference, stale_references
from twin.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
FIX = "run `python scripts/generate_reference.py` from the repository root and commit the result"
README_MAX_LINES = 200

LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _relative_links(text: str) -> list[str]:
    text = INLINE_CODE.sub("", FENCE.sub("", text))
    targets = []
    for target in LINK.findall(text):
        if re.match(r"^(https?:|mailto:|#)", target):
            continue
        targets.append(target)
    return targets


def _setting_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[str]:
    out: list[str] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out.extend(_setting_paths(annotation, (*prefix, name)))
        else:
            out.append(".".join((*prefix, name)))
    return out


def _command_paths(command: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [path]
    commands = getattr(command, "commands", None) or {}
    for name, sub in commands.items():
        if not getattr(sub, "hidden", False):
            out.extend(_command_paths(sub, (*path, name)))
    return out


def test_generated_references_are_up_to_date() -> None:
    stale = stale_references(ROOT)
    assert not stale, f"stale generated docs: {', '.join(stale)}; {FIX}"


@pytest.mark.parametrize("relative", sorted(REFERENCES))
def test_generated_pages_say_so(relative: str) -> None:
    first = (ROOT / relative).read_text(encoding="utf-8").splitlines()[0]
    assert "scripts/generate_reference.py" in first, f"{relative}: {FIX}"


def test_references_do_not_depend_on_terminal_or_working_directory(tmp_path: Path) -> None:
    here = {"cli": cli_reference(), "settings": settings_reference()}
    assert here["cli"] == cli_reference()
    assert "\x1b" not in here["cli"], "ANSI codes in the CLI reference"
    env = {**os.environ, "COLUMNS": "200", "TERMINAL_WIDTH": "40", "FORCE_COLOR": "1"}
    env.pop("TWIN_CONFIG", None)
    code = ("import sys; from twin.reference import cli_reference, settings_reference; "
            "sys.stdout.write(cli_reference() + '\\0' + settings_reference())")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                            capture_output=True, text=True, encoding="utf-8", check=True,
                            timeout=120)
    cli, settings = result.stdout.split("\0")
    assert cli == here["cli"]
    assert settings == here["settings"]


def test_readme_is_a_front_door() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move depth to docs/")


def test_relative_links_resolve() -> None:
    broken = []
    for page in _markdown_files():
        for target in _relative_links(page.read_text(encoding="utf-8")):
            path = target.split("#", 1)[0]
            if not path:
                continue
            resolved = (page.parent / path).resolve()
            if not resolved.exists() or not resolved.is_relative_to(ROOT):
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, "links to nothing in the repository:\n" + "\n".join(broken)


def test_link_checker_sees_links() -> None:
    sample = ("[a](docs/x.md) [b](https://example.com) [c](#top) `[d](e.md)`\n"
              "```\n[f](g.md)\n```\n[h](../i.md#part)")
    assert _relative_links(sample) == ["docs/x.md", "../i.md#part"]


def test_every_setting_is_in_the_reference() -> None:
    text = (ROOT / "docs" / "reference" / "settings.md").read_text(encoding="utf-8")
    paths = _setting_paths(Settings)
    assert "ray.port" in paths and "home" in paths
    missing = [p for p in paths if f"| `{p}` |" not in text]
    assert not missing, f"settings missing from docs/reference/settings.md: {missing}; {FIX}"
    assert "`TWIN_RAY__PORT`" in text and "`TWIN_HOME`" in text


def test_every_command_is_in_the_reference() -> None:
    text = (ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    paths = _command_paths(typer.main.get_command(app))
    assert ("models", "show") in paths and ("collect",) in paths
    headings = set(re.findall(r"^## (.+)$", text, re.M))
    missing = [" ".join(("twin", *p)) for p in paths if " ".join(("twin", *p)) not in headings]
    assert not missing, f"commands missing from docs/reference/cli.md: {missing}; {FIX}"
