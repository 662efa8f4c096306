"""The RAG deployment: retrieval and the prompt (expand, self-query, search, re-rank, fit the
engine's window), and the knowledge base's read-only views (library, search, versions)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ray import serve
from ray.serve.handle import DeploymentHandle

from twin.llm.served import ServedModel
from twin.settings import Settings


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


class LibraryViews:
    """What the warehouse, the knowledge base and the registry hold (``self.settings``,
    ``self.retriever``: the RAG replica's)."""

    settings: Settings
    retriever: Any

    async def library(self, author_id: str | None, limit: int) -> dict[str, Any]:
        """Counts per author and platform, and the latest pieces."""
        from twin.warehouse import Warehouse

        def read() -> dict[str, Any]:
            warehouse = Warehouse.from_settings(self.settings)
            stats = warehouse.stats(author_id)
            docs = warehouse.documents(author_id=author_id)[:limit] if stats else []
            return {"platforms": [{**row, "first": _iso(row["first"]), "last": _iso(row["last"])}
                                  for row in stats],
                    "documents": [{"id": d.id, "author_id": d.author_id,
                                   "platform": d.platform.value, "kind": d.kind.value,
                                   "title": d.title, "url": d.url,
                                   "published_at": _iso(d.published_at),
                                   "origin": d.metadata.get("origin", "collected")}
                                  for d in docs],
                    "table_version": warehouse.version()}

        return await asyncio.to_thread(read)

    async def search(self, query: str, author_id: str | None, platform: str | None, k: int,
                     mode: str, kind: str | None = None) -> list[dict[str, Any]]:
        """The knowledge base's nearest chunks (the `twin search` primitive)."""
        from dataclasses import asdict

        from twin.retrieval import search

        hits = await asyncio.to_thread(search, query, self.settings, author=author_id,
                                       platform=platform, kind=kind, k=k, mode=mode,
                                       store=self.retriever.store)
        return [asdict(h) for h in hits]

    async def versions(self) -> list[dict[str, Any]]:
        """The model registry: every version with its metrics and aliases."""
        from twin.registry import Registry

        return await asyncio.to_thread(lambda: [v.to_dict() for v in
                                                Registry(self.settings).versions()])


@serve.deployment
class RAGDeployment(LibraryViews):
    """Fits context to ``served.window``, the engine's own, counted with the served template.

    ``settings`` holds only the groups this deployment reads (see
    :func:`twin.serving.model.scoped_settings`); ``served.choices`` set its retrieval and
    context defaults (:func:`twin.serving.defaults.chosen_settings`)."""

    def __init__(self, served: ServedModel, settings: Settings,
                 llm: DeploymentHandle | None = None) -> None:
        from twin.llm.engines import prompt_format
        from twin.logs import setup_logging
        from twin.rag.retriever import Retriever
        from twin.serving.defaults import chosen_settings

        # The evaluation's retrieval and context choices for this model are the defaults.
        self.settings = chosen_settings(settings, served.choices)
        setup_logging(settings.log_level)
        self.served = served
        self.retriever = Retriever(self.settings)
        self.format = prompt_format(served)
        self.llm = llm
        self.kits: dict[str, Any] = {}

    def _ask_llm(self, text: str) -> str:
        """For query expansion by the LLM (called from a worker thread)."""
        if self.llm is None:
            return ""
        answer = self.llm.generate.remote([{"role": "user", "content": text}], 96, 0.0)
        return answer.result(timeout_s=60)["text"]

    async def prepare(self, prompt: str, author_id: str | None, links: list[str],
                      max_words: int | None, max_new_tokens: int,
                      save_links: bool | None = None, tone: str | None = None,
                      history: list[dict[str, str]] | None = None) -> dict[str, Any]:
        """The new user message for the request (``history``, earlier chat turns, counted in
        the window too) and the sources it draws on."""
        from twin.rag.prompt import build_messages

        start = time.monotonic()
        found = await asyncio.to_thread(self.retriever.retrieve, prompt, author=author_id,
                                        links=links, ask_llm=self._ask_llm,
                                        save_links=save_links)
        messages, used = build_messages(prompt, found.chunks, self.format, self.served.window,
                                        max_new_tokens, max_words,
                                        self.settings.rag.context_tokens, tone, history)
        sources: dict[str, dict[str, Any]] = {}
        for chunk in used:
            known = sources.get(chunk.url)
            if known is None or chunk.score > known["score"]:
                sources[chunk.url] = {"url": chunk.url, "title": chunk.title,
                                      "platform": chunk.platform, "score": chunk.score,
                                      "origin": chunk.origin}
        return {"messages": messages, "sources": list(sources.values()),
                # What the draft's names, numbers and links may come from (never sent out).
                "material": [chunk.text for chunk in used], "urls": list(sources),
                "link_errors": found.link_errors, "notes": found.notes,
                "variants": found.variants,
                "filters": {"author_id": found.filters.author_id,
                            "platform": found.filters.platform},
                "timings": {**found.timings, "retrieve_s": round(time.monotonic() - start, 3)}}

    def kit(self, author_id: str | None) -> Any:
        """The author's kit (channel profile, voice model) the served model came with, loaded
        once; with no author named, the only author that has one."""
        from twin.posts.kit import AuthorKit, kit_authors, kit_folder

        if author_id is None:
            authors = kit_authors(self.served.voice_dir)
            author_id = authors[0] if len(authors) == 1 else ""
        if author_id not in self.kits:
            folder = kit_folder(self.served.voice_dir, author_id) if author_id else None
            self.kits[author_id] = AuthorKit.load(folder if folder and folder.is_dir() else None,
                                                  author_id, self.settings.posts)
        return self.kits[author_id]

    async def finish(self, drafts: list[str], prompt: str, author_id: str | None,
                     material: list[str], urls: list[str],
                     max_words: int | None) -> dict[str, Any]:
        """The best of the candidate drafts, shaped for the author's channel and checked, with
        its voice score and evidence, notes, and the table of every candidate."""
        def work() -> dict[str, Any]:
            kit = self.kit(author_id)
            finished = kit.finish(drafts, self.settings.posts, prompt, material, urls,
                                  max_words)
            score = kit.score(finished.post)
            return {**finished.to_dict(), "voice": score.as_dict() if score else None}

        return await asyncio.to_thread(work)
