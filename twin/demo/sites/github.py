"""The demo's GitHub Enterprise-style host: the REST API under ``/api/v3`` (paged with Link
headers), real git repositories over smart HTTP (mirrors :mod:`twin.collect.github`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.demo.content import AUTHOR_NAME, REPOSITORIES, data_dir
from twin.demo.sites.common import H, Response, not_found

if TYPE_CHECKING:
    from twin.demo.site import DemoSite

GIT_DATE = "2026-09-01T10:00:00+00:00"
GITHUB_PAGE_SIZE = 2  # the demo API pages its repository list to exercise Link headers


class GitHubSite:
    """GitHub: the REST API and git over HTTP, on one port."""

    name = "github"

    def __init__(self, demo: DemoSite) -> None:
        self.demo = demo

    def route(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Response:
        api = "/api/v3"
        rate = {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "59",
                "X-RateLimit-Resource": "core"}
        if path == f"{api}/users/{H}/repos":
            repos = self.repos()
            page = int((query.get("page") or ["1"])[0])
            chunk = repos[(page - 1) * GITHUB_PAGE_SIZE: page * GITHUB_PAGE_SIZE]
            extra = dict(rate)
            if page * GITHUB_PAGE_SIZE < len(repos):
                extra["Link"] = (f'<{self.demo.url("github")}{api}/user/4242/repos?type=owner&'
                                 f'per_page={GITHUB_PAGE_SIZE}&page={page + 1}>; rel="next"')
            return 200, "application/json; charset=utf-8", json.dumps(chunk).encode(), extra
        match = re.fullmatch(rf"{api}/user/4242/repos", path)
        if match:
            return self.route(f"{api}/users/{H}/repos", query, headers)
        match = re.fullmatch(rf"{api}/repos/{H}/([\w.-]+)", path)
        if match:
            repo = next((r for r in self.repos() if r["name"] == match.group(1)), None)
            if repo:
                return 200, "application/json", json.dumps(repo).encode(), rate
        if path.startswith(api):
            body = {"message": "Not Found",
                    "documentation_url": "https://docs.github.com/rest", "status": "404"}
            return 404, "application/json", json.dumps(body).encode(), rate
        return not_found()

    def git_http_backend(self, method: str, path: str, query: str, headers: dict[str, str],
                         body: bytes) -> tuple[int, dict[str, str], bytes] | None:
        """Git's smart HTTP protocol (what github.com speaks), through `git http-backend`."""
        match = re.fullmatch(rf"/{H}/([\w-]+\.git)(/.*)", path)
        if not match:
            return None
        env = {**os.environ, "GIT_PROJECT_ROOT": str(self.demo.workdir / "git"),
               "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": f"/{match.group(1)}{match.group(2)}",
               "QUERY_STRING": query, "REQUEST_METHOD": method,
               "CONTENT_TYPE": headers.get("Content-Type", ""),
               "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": "127.0.0.1",
               "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
        if headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = headers["Git-Protocol"]
        proc = subprocess.run(["git", "http-backend"], input=body, env=env,
                              capture_output=True, timeout=60, check=False)
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        status, out_headers = 200, {}
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                out_headers[key.strip()] = value.strip()
        return status, out_headers, payload

    def repos(self) -> list[dict[str, Any]]:
        base = self.demo.url("github")
        descriptions = {
            "parquet-drift": "Detect schema drift between Parquet files before it pages you.",
            "oncall-cookbook": "Recipes for the data on-call: backfills, drift, late data.",
        }
        repos = []
        for index, name in enumerate([*REPOSITORIES, "dbt-utils"]):
            repos.append({
                "id": 1000 + index, "name": name, "full_name": f"{H}/{name}",
                "html_url": f"{base}/{H}/{name}", "clone_url": f"{base}/{H}/{name}.git",
                "description": descriptions.get(name, "Fork of a community package"),
                "fork": name == "dbt-utils", "archived": False, "private": False,
                "visibility": "public", "default_branch": "main",
                "language": "Python" if name == "parquet-drift" else None,
                "topics": ["data-engineering"], "pushed_at": "2026-09-01T10:00:00Z",
                "created_at": "2025-02-11T09:00:00Z", "updated_at": "2026-09-01T10:00:00Z",
                "size": 42, "stargazers_count": 17 - index,
            })
        return repos

    def build_git_repositories(self) -> None:
        """Real git repositories of the demo author, bare, served over dumb HTTP."""
        git_root = self.demo.workdir / "git"
        shutil.rmtree(git_root, ignore_errors=True)
        git_root.mkdir(parents=True)
        env = {**os.environ, "GIT_AUTHOR_NAME": AUTHOR_NAME, "GIT_COMMITTER_NAME": AUTHOR_NAME,
               "GIT_AUTHOR_EMAIL": "maya@okafor.dev", "GIT_COMMITTER_EMAIL": "maya@okafor.dev",
               "GIT_AUTHOR_DATE": GIT_DATE, "GIT_COMMITTER_DATE": GIT_DATE,
               "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
        for name in REPOSITORIES:
            work = self.demo.workdir / "git-work" / name
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(data_dir() / "github" / name, work, ignore=shutil.ignore_patterns(
                ".ruff_cache", "__pycache__", ".pytest_cache"))
            add_files_to_skip(work)
            for command in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                            ["git", "commit", "-q", "-m", "Initial public release"]):
                subprocess.run(command, cwd=work, env=env, check=True, capture_output=True)
            bare = git_root / f"{name}.git"
            subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], env=env,
                           check=True, capture_output=True)
            subprocess.run(["git", "update-server-info"], cwd=bare, env=env, check=True,
                           capture_output=True)
            shutil.rmtree(work)


def add_files_to_skip(work: Path) -> None:
    """Files a real repository has that are not the author's writing (the collector skips)."""
    (work / "assets").mkdir(exist_ok=True)
    (work / "assets" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    vendored = work / "node_modules" / "left-pad"
    vendored.mkdir(parents=True, exist_ok=True)
    (vendored / "index.js").write_text("module.exports = (s, n) => String(s).padStart(n);\n")
    (work / "package-lock.json").write_text('{"lockfileVersion": 3, "packages": {}}\n')
    (work / "generated_schema.py").write_text("# Code generated by schemagen. DO NOT EDIT.\n"
                                              "SCHEMA = {}\n")
    (work / "fixtures").mkdir(exist_ok=True)
    (work / "fixtures" / "huge_sample.sql").write_text("-- sample rows\n" + (
        "INSERT INTO scans VALUES (1, 'depot', 42);\n" * 8000))
