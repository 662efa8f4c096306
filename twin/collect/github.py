"""GitHub: a user's public repositories via the REST API, each cloned shallowly with git.

A repository becomes one document (kind ``repository``): its README, docs and source files as
markdown sections (:mod:`twin.collect.repository`). ``github.com/<user>`` collects every public
repository the user owns (forks only when settings say so); ``github.com/<user>/<repo>``
collects one. The API spider is :mod:`twin.collect.github_api`, the clone
:mod:`twin.collect.gitclone`; their names are re-exported here.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

from twin.collect.base import (
    CollectError,
    ScrapyCollector,
    register,
    relative_path,
    under_base,
)
from twin.collect.crawl import run_crawl
from twin.collect.gitclone import git_token_env, pin_resolution, shallow_clone
from twin.collect.github_api import GitHubApiSpider
from twin.collect.html import parse_date
from twin.collect.repository import (
    DOC_EXTENSIONS,
    FILE_MARKER,
    GENERATED,
    GENERATED_MARKERS,
    KEEP_NAMES,
    LANGUAGES,
    LOCK_FILES,
    SKIP_DIRS,
    SOURCE_EXTENSIONS,
    file_verdict,
    repository_text,
)
from twin.domain import Document, Kind, Platform, Source, SourceResult
from twin.net import UnsafeURLError, check_url
from twin.settings import Settings

__all__ = [
    "DOC_EXTENSIONS", "FILE_MARKER", "GENERATED", "GENERATED_MARKERS", "KEEP_NAMES",
    "LANGUAGES", "LOCK_FILES", "RESERVED_PATHS", "SKIP_DIRS", "SOURCE_EXTENSIONS",
    "GitHubApiSpider", "GitHubCollector", "file_verdict", "git_token_env", "parse_github_link",
    "pin_resolution", "repository_text", "shallow_clone",
]

RESERVED_PATHS = {"settings", "marketplace", "explore", "topics", "search", "login", "about",
                  "features", "pricing", "notifications", "pulls", "issues", "sponsors"}


def parse_github_link(url: str, settings: Settings) -> tuple[str, str | None]:
    """``(user, repo or None)`` from a GitHub web link, or :class:`CollectError`."""
    rel = relative_path(urlsplit(url), settings.platforms.github_url)
    segments = [s for s in rel.split("/") if s]
    if len(segments) >= 2 and segments[0] == "orgs":
        return segments[1], None  # github.com/orgs/<org>/repositories
    if not segments or segments[0] in RESERVED_PATHS:
        raise CollectError(f"not a GitHub user or repository link: {url}")
    if len(segments) == 1:
        return segments[0], None
    return segments[0], segments[1].removesuffix(".git")


@register
class GitHubCollector(ScrapyCollector):
    """A GitHub user's public repositories (or one repository)."""

    name = "github"
    platform = Platform.GITHUB
    priority = 10
    spider = "twin.collect.github_api:GitHubApiSpider"

    @classmethod
    def matches(cls, url: SplitResult, settings: Settings) -> bool:
        return under_base(url, settings.platforms.github_url) or (url.hostname or "") in {
            "github.com", "www.github.com"}

    def run(self, source: Source, author_id: str, payload: bytes | None = None) -> SourceResult:
        user, repo = parse_github_link(source.value, self.settings)
        api = self.settings.platforms.github_api_url.rstrip("/")
        try:
            check_url(api, self.settings.collect.allowed_hosts)
        except UnsafeURLError as exc:
            raise CollectError(str(exc)) from exc
        options = {"user": user, "repo": repo,
                   "include_forks": self.settings.collect.github_include_forks,
                   "max_repos": self.settings.collect.github_max_repos,
                   "token": self.settings.platforms.github_token}
        output = run_crawl(self.spider, api, self.settings, options)
        if output.failure and not output.items:
            raise CollectError(output.failure)
        result = SourceResult(source=source, errors=list(output.errors))
        if output.failure:  # e.g. rate limited on page 2: keep what page 1 listed
            result.errors.insert(0, output.failure)
        repos = [item["repo"] for item in output.items]
        with ThreadPoolExecutor(max_workers=4) as pool:
            outcomes = list(pool.map(lambda r: self._repository(r, author_id), repos))
        for outcome in outcomes:
            if isinstance(outcome, Document):
                result.documents.append(outcome)
            else:
                result.errors.append(outcome)
        return result

    def _repository(self, repo: dict[str, Any], author_id: str) -> Document | str:
        """Clone one repository and make its document; a string says why it failed."""
        full_name = repo["full_name"]
        clone_url = repo.get("clone_url") or ""
        try:
            checked = check_url(clone_url, self.settings.collect.allowed_hosts)
        except UnsafeURLError as exc:
            return f"{full_name}: {exc}"
        c = self.settings.collect
        with tempfile.TemporaryDirectory(prefix="twin-git-") as tmp:
            target = Path(tmp) / "repo"
            problem = shallow_clone(clone_url, target, checked, self.settings)
            if problem:
                return f"{full_name}: {problem}"
            text, info = repository_text(target, full_name, repo.get("description"),
                                         c.github_max_file_bytes, c.github_max_repo_chars)
        if not info["files"]:
            return f"{full_name}: no source or documentation files"
        owner_info = repo.get("owner") if isinstance(repo.get("owner"), dict) else {}
        owner = owner_info.get("login") or full_name.split("/", 1)[0]
        return Document.build(
            author_id=author_id,
            platform=Platform.GITHUB,
            kind=Kind.REPOSITORY,
            # The API's html_url is shown as a link: only ever an http(s) one.
            url=repo.get("html_url") or "",
            fallback_url=f"{self.settings.platforms.github_url.rstrip('/')}/{full_name}",
            title=full_name,
            text=text,
            # Published is when the repository was made public; its last push is kept apart.
            published_at=parse_date(repo.get("created_at") or repo.get("pushed_at")),
            metadata={"author": owner, "bylines": [owner] if owner else [],
                      "provenance": {"author": "github-api", "published_at": "github-api",
                                     "title": "github-api"},
                      "pushed_at": repo.get("pushed_at"),
                      "description": repo.get("description"), "language": repo.get("language"),
                      "topics": repo.get("topics") or [], "stars": repo.get("stargazers_count"),
                      "default_branch": repo.get("default_branch"), **info},
        )
