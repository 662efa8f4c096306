"""The spider that lists a GitHub user's public repositories (or reads one) through the REST
API; the collector (:mod:`twin.collect.github`) clones what it lists."""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from scrapy.http import Request, Response

from twin.collect.scrapy_support import TwinSpider, origin
from twin.domain import Platform


class GitHubApiSpider(TwinSpider):
    """Lists repositories through the REST API, following ``Link: rel="next"`` pages."""

    name = "github"
    platform: ClassVar[Platform] = Platform.GITHUB

    @property
    def credential_origins(self) -> set[tuple[str, str, int]]:
        """The one origin the token may go to: the configured API's (see
        :class:`~twin.collect.scrapy_support.CredentialScopeMiddleware`)."""
        return {origin(self.url)}

    def _headers(self, url: str) -> dict[str, str]:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        # A next page on another origin is still read, without the token.
        if self.options.get("token") and origin(url) in self.credential_origins:
            headers["Authorization"] = f"Bearer {self.options['token']}"
        return headers

    def _request(self, url: str, callback: Any, **kwargs: Any) -> Request:
        return Request(url, callback=callback, errback=self.fail_source,
                       headers=self._headers(url),
                       # An API is governed by its terms and rate limits, not robots.txt
                       # (api.github.com's robots.txt disallows everything).
                       meta={"handle_httpstatus_list": [401, 403, 404, 429],
                             "dont_obey_robotstxt": True,
                             # The cache stores request headers: never a token.
                             "dont_cache": bool(self.options.get("token"))},
                       dont_filter=True, **kwargs)

    def first_requests(self) -> list[Request]:
        api = self.url.rstrip("/")
        user, repo = self.options["user"], self.options.get("repo")
        if repo:
            return [self._request(f"{api}/repos/{user}/{repo}", self.parse_repo)]
        return [self._request(f"{api}/users/{user}/repos?type=owner&sort=pushed&per_page=100",
                              self.parse_list, cb_kwargs={"seen": 0})]

    def _api_error(self, response: Response) -> bool:
        if response.status < 400:
            return False
        try:
            message = json.loads(response.text).get("message", "")
        except (json.JSONDecodeError, AttributeError):
            message = ""
        remaining = response.headers.get(b"X-RateLimit-Remaining")
        user, repo = self.options["user"], self.options.get("repo")
        if response.status in (403, 429) and (remaining == b"0" or "rate limit" in
                                               message.lower()):
            self.source_failed("GitHub API rate limit exceeded; wait an hour or set "
                               "TWIN_PLATFORMS__GITHUB_TOKEN")
        elif response.status == 404 and repo:
            self.source_failed(f"GitHub repository {user}/{repo} not found or private")
        elif response.status == 404:
            self.source_failed(f"GitHub user {user} not found")
        else:
            self.source_failed(f"GitHub API answered HTTP {response.status} at {response.url}: "
                               f"{message or 'no message'}")
        return True

    def parse_repo(self, response: Response) -> Any:
        if self._api_error(response):
            return
        repo = json.loads(response.text)
        if repo.get("private"):
            self.source_failed(f"GitHub repository {repo.get('full_name')} is private; "
                               "only public repositories are collected")
            return
        yield {"repo": _repo_fields(repo)}

    def parse_list(self, response: Response, seen: int) -> Any:
        if self._api_error(response):
            return
        repos = json.loads(response.text)
        if seen == 0 and not repos:
            self.source_failed(f"GitHub user {self.options['user']} has no public repositories")
            return
        limit = self.options.get("max_repos", 50)
        for repo in repos:
            if repo.get("private") or (repo.get("fork") and not self.options.get("include_forks")):
                continue
            if seen >= limit:
                self.item_failed(f"stopped at {limit} repositories (collect.github_max_repos)")
                return
            seen += 1
            yield {"repo": _repo_fields(repo)}
        next_url = _next_link(response.headers.get(b"Link", b"").decode())
        if next_url:
            yield self._request(next_url, self.parse_list, cb_kwargs={"seen": seen})


_REPO_KEYS = ("name", "full_name", "html_url", "clone_url", "description", "fork", "archived",
              "private", "default_branch", "language", "topics", "pushed_at", "created_at",
              "updated_at", "size", "stargazers_count")


def _repo_fields(repo: dict[str, Any]) -> dict[str, Any]:
    return {k: repo.get(k) for k in _REPO_KEYS}


def _next_link(header: str) -> str | None:
    for part in header.split(","):
        if 'rel="next"' in part:
            match = re.search(r"<([^>]+)>", part)
            if match:
                return match.group(1)
    return None
