"""The twin owner's profile: their name, their links and their export ZIPs, kept in one JSON
file under the home folder. Links are checked as they are typed, by shape only (the collection
stage does the real work when it runs)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from twin.collect.dispatcher import link_platform
from twin.collect.linkedin import needs_login
from twin.domain import Platform
from twin.settings import Settings, with_overrides


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


def collect_settings(profile: Profile, settings: Settings) -> Settings:
    """The settings this profile's collection runs with (its overrides applied), which decide
    the platform a link belongs to."""
    return with_overrides(settings, profile.settings_overrides)


def platform_of(url: str, settings: Settings) -> str:
    """The platform whose collector reads a link (``blog`` for any other site), as collection
    decides it (:func:`twin.collect.dispatcher.link_platform`)."""
    platform = link_platform(url, settings)
    return "blog" if platform in (None, Platform.WEB) else platform.value


def check_link(url: str, settings: Settings) -> str | None:
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
    if link_platform(url, settings) is Platform.LINKEDIN and needs_login(url, settings):
        return ("a LinkedIn profile needs a login: link your posts (/posts/...) or articles "
                "(/pulse/...), or upload your LinkedIn data export")
    return None


# Most file systems allow 255 bytes per name; a stored name keeps well under that.
MAX_STORED_NAME_BYTES = 120


def shown_name(name: str, limit: int = 80) -> str:
    """An uploaded file's name as a message shows it (long ones shortened in the middle)."""
    return name if len(name) <= limit else f"{name[:limit // 2]}…{name[-(limit // 2):]}"


def stored_name(name: str) -> str:
    """A safe file name to keep an upload under: no folders, only word characters, dots and
    dashes, no leading dot, at most ``MAX_STORED_NAME_BYTES`` bytes (a long name is cut and
    gets a hash of the whole name, so two long names never collide); the extension is kept."""
    base = re.split(r"[/\\]", name)[-1]
    safe = re.sub(r"[^\w.\-]+", "_", base).lstrip(".") or "export.zip"
    if len(safe.encode()) <= MAX_STORED_NAME_BYTES:
        return safe
    stem, dot, extension = safe.rpartition(".")
    if not dot or len(extension) > 10:
        stem, extension = safe, ""
    suffix = "-" + hashlib.sha256(name.encode()).hexdigest()[:12] + (f".{extension}"
                                                                      if extension else "")
    room = MAX_STORED_NAME_BYTES - len(suffix.encode())
    return stem.encode()[:room].decode(errors="ignore") + suffix


def store_upload(name: str, data: bytes, settings: Settings) -> Path:
    """Keep an uploaded export ZIP; raises ValueError naming the problem if it is not one (or
    cannot be stored)."""
    shown = shown_name(name)
    safe = stored_name(name)
    if not safe.lower().endswith(".zip"):
        raise ValueError(f"{shown}: exports are .zip files (LinkedIn, Medium or Substack)")
    if len(data) > settings.ui.max_upload_bytes:
        raise ValueError(f"{shown}: larger than {settings.ui.max_upload_bytes} bytes")
    folder = uploads_dir(settings)
    path = folder / safe
    tmp = path.with_suffix(".part")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        if not zipfile.is_zipfile(tmp):
            raise ValueError(f"{shown}: not a ZIP archive (corrupt or another kind of file)")
        tmp.replace(path)
    except OSError as exc:
        raise ValueError(f"{shown}: could not be stored ({exc.strerror or exc})") from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return path
