"""The twin owner's profile: their name, their links and their export ZIPs, kept in one JSON
file under the home folder. Links are checked as they are typed, by shape only (the collection
stage does the real work when it runs)."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from twin.settings import Settings

PLATFORM_HOSTS = {
    "linkedin": ("linkedin.com",),
    "medium": ("medium.com",),
    "substack": ("substack.com",),
    "github": ("github.com",),
}


class Profile(BaseModel):
    """Who the twin is of, and where their writing is."""

    author: str = ""
    links: list[str] = Field(default_factory=list)
    exports: list[str] = Field(default_factory=list, description="Uploaded ZIPs (paths).")
    # Collection settings for this profile's runs (the demo points platforms at 127.0.0.1);
    # never secrets: flow runs show their parameters.
    settings_overrides: dict[str, Any] = Field(default_factory=dict)


def profile_path(settings: Settings) -> Path:
    """Where the profile is kept."""
    return settings.home_dir / "ui" / "profile.json"


def uploads_dir(settings: Settings) -> Path:
    """Where uploaded export ZIPs are kept."""
    return settings.home_dir / "ui" / "uploads"


def load_profile(settings: Settings) -> Profile:
    """The saved profile, or an empty one."""
    path = profile_path(settings)
    if not path.is_file():
        return Profile()
    return Profile.model_validate_json(path.read_text())


def save_profile(profile: Profile, settings: Settings) -> Path:
    """Write the profile (atomically: a crash never leaves half a file)."""
    path = profile_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(profile.model_dump(), indent=2))
    tmp.replace(path)
    return path


def check_author(name: str) -> str | None:
    """Why the author's name is not usable, or None."""
    if not name.strip():
        return "the author's name is needed"
    if not re.search(r"\w", name):
        return "the name needs letters or digits"
    if len(name) > 200:
        return "at most 200 characters"
    return None


def platform_of(url: str) -> str:
    """The platform a link looks like (``blog`` for any other site)."""
    host = (urlsplit(url).hostname or "").lower()
    for platform, domains in PLATFORM_HOSTS.items():
        if any(host == d or host.endswith("." + d) for d in domains):
            return platform
    return "blog"


def check_link(url: str) -> str | None:
    """Why a link cannot be collected, or None (shape only: nothing is fetched here)."""
    url = url.strip()
    if not url:
        return None
    if any(c.isspace() for c in url):
        return "a link has no spaces"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "links start with https:// (or http://)"
    if not parts.hostname or "." not in parts.hostname and parts.hostname != "localhost":
        return "that link has no site name"
    try:
        _ = parts.port
    except ValueError:
        return "that link has an invalid port"
    if platform_of(url) == "linkedin" and parts.path.startswith("/in/"):
        return ("a LinkedIn profile needs a login: link your posts (/posts/...) or articles "
                "(/pulse/...), or upload your LinkedIn data export")
    return None


def store_upload(name: str, data: bytes, settings: Settings) -> Path:
    """Keep an uploaded export ZIP; raises ValueError naming the problem if it is not one."""
    safe = re.sub(r"[^\w.\-]+", "_", Path(name).name) or "export.zip"
    if not safe.lower().endswith(".zip"):
        raise ValueError(f"{name}: exports are .zip files (LinkedIn, Medium or Substack)")
    if len(data) > settings.ui.max_upload_bytes:
        raise ValueError(f"{name}: larger than {settings.ui.max_upload_bytes} bytes")
    folder = uploads_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / safe
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    if not zipfile.is_zipfile(tmp):
        tmp.unlink()
        raise ValueError(f"{name}: not a ZIP archive (corrupt or another kind of file)")
    tmp.replace(path)
    return path
