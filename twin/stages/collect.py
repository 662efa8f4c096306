"""The collect stage: an author's writing from links and export ZIPs into the warehouse."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field, model_validator

from twin.domain import CollectionSummary
from twin.stages.base import Flag, StageRequest, StageResult, failing_as_stage

if TYPE_CHECKING:
    from rich.console import Console

    from twin.settings import Settings


class CollectRequest(StageRequest):
    """Whose writing to collect, and from where."""

    author: str = Field(description="The author's name, e.g. 'Maya Okafor'.")
    links: Annotated[list[str], Flag("--link")] = Field(
        default_factory=list, description="Profile, feed, post or repository link "
        "(repeatable). Prefix with 'substack=' or 'medium=' for a custom domain.")
    exports: Annotated[list[str], Flag("--export")] = Field(
        default_factory=list, description="LinkedIn, Medium or Substack data-export ZIP "
        "(repeatable). Prefix the path with 'linkedin=' etc. to name the platform.")

    @model_validator(mode="after")
    def _some_source(self) -> CollectRequest:
        if not self.links and not self.exports:
            raise ValueError("give at least one --link or --export")
        return self

    def for_job(self) -> CollectRequest:
        """Sources as the job needs them: deduplicated, export paths absolute."""
        from twin.collect.pipeline import parse_sources
        from twin.domain import SourceKind

        links, exports = [], []
        with failing_as_stage(ValueError, code=2):  # a link or path that is no source
            sources = parse_sources(self.links, self.exports)
        for source in sources:
            hint = f"{source.platform_hint.value}=" if source.platform_hint else ""
            (links if source.kind == SourceKind.LINK else exports).append(hint + source.value)
        return self.model_copy(update={"links": links, "exports": exports})


class CollectResult(StageResult, CollectionSummary):
    """The collection run's summary: one row per source."""

    def render(self, console: Console) -> None:
        """The per-source table, totals and the documents missing an author or date."""
        from twin.collect.runner import print_summary

        print_summary(self, console)

    def headline(self) -> str:
        """Totals over the sources."""
        return f"{self.author_id}: {self.totals}"

    def markdown(self) -> str:
        """Totals and one row per source (failures with their reason)."""
        from twin.report import missing_markdown

        lines = [f"### Collection for {self.author_id}",
                 f"Ray job `{self.job_id or '?'}`, run `{self.run_id}`, {self.seconds:.0f}s, "
                 f"warehouse version {self.table_version}.", "",
                 " | ".join(f"**{v}** {k}" for k, v in self.totals.items()), "",
                 "| source | collector | found | new | updated | unchanged | failed | reason |",
                 "|---|---|---|---|---|---|---|---|"]
        for s in self.sources:
            reason = (s.reason or "").replace("|", "/")
            lines.append(f"| {s.source} | {s.collector or ''} | {s.found} | {s.new} | "
                         f"{s.updated} | {s.unchanged} | {s.failed} | {reason} |")
        missing = missing_markdown(self.sources)
        return "\n".join(lines + ["", missing] if missing else lines)

    def exit_code(self) -> int:
        """1 only when every source failed."""
        return 1 if self.sources and all(s.found == 0 and s.failed for s in self.sources) else 0


def run_collect(request: CollectRequest, settings: Settings) -> CollectResult:
    """Collect the sources, one Ray task each; a failing source never stops the others."""
    from twin.collect.pipeline import collect

    # ValueError: bad arguments (2); RuntimeError: the warehouse write failed, the documents
    # were kept (1).
    with failing_as_stage(ValueError, code=2), failing_as_stage(RuntimeError):
        summary = collect(request.author, request.links, request.exports, settings)
    return CollectResult.model_validate(summary.model_dump())
