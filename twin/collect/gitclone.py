"""A shallow ``git clone`` of a public repository, safely: no credential prompts, no
redirects, the address the URL check passed pinned, and a token only for its own host."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from twin.collect.scrapy_support import origin
from twin.net import IPAddress
from twin.settings import Settings


def shallow_clone(clone_url: str, target: Path, addresses: list[IPAddress],
                  settings: Settings) -> str | None:
    """Clone the default branch of ``clone_url`` (depth 1) into ``target``; None when it
    worked, else why it did not. ``addresses`` are what the URL check resolved the host to."""
    timeout_s = settings.collect.github_clone_timeout_s
    # No redirects: the clone URL passed the address check, a redirect has not.
    command = ["git", "-c", "credential.helper=", "-c", "core.askPass=true",
               "-c", "http.followRedirects=false", *pin_resolution(clone_url, addresses),
               "clone", "--depth", "1", "--single-branch", "--no-tags", "--quiet",
               clone_url, str(target)]
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_LFS_SKIP_SMUDGE": "1",
           **git_token_env(clone_url, settings)}
    try:
        proc = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return f"git clone timed out after {timeout_s:.0f}s"
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
        return f"git clone failed: {reason}"
    return None


def pin_resolution(url: str, addresses: list[IPAddress]) -> list[str]:
    """git options that connect to an address the URL check passed, not to whatever the name
    resolves to a moment later (``http.curloptResolve``, git 2.37+; older git ignores it)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not addresses or ":" in host or host.replace(".", "").isdigit():
        return []  # an allowed host, or an IP literal: nothing is resolved
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = addresses[0]
    spelt = f"[{address}]" if address.version == 6 else str(address)
    return ["-c", f"http.curloptResolve={host}:{port}:{spelt}"]


def git_token_env(clone_url: str, settings: Settings) -> dict[str, str]:
    """Environment that gives git the token, only when ``clone_url`` is on the configured
    GitHub host (same scheme, host and port as ``platforms.github_url``); else nothing, and a
    public repository elsewhere is cloned without it.

    Through the environment (a command line is visible to `ps`), and scoped to that origin
    with ``http.<url>.extraHeader`` so git never sends it anywhere else.
    """
    token = settings.platforms.github_token
    if not token or origin(clone_url) != origin(settings.platforms.github_url):
        return {}
    scheme, host, port = origin(settings.platforms.github_url)
    host = f"[{host}]" if ":" in host else host
    default = port == (443 if scheme == "https" else 80)
    scope = f"{scheme}://{host}" + ("" if default else f":{port}") + "/"
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"http.{scope}.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Bearer {token}"}
