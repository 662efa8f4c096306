"""RAG pieces without a server: self-query, expansion, de-duplication, re-ranking, prompt fit."""

from __future__ import annotations

import numpy as np
import pytest

from twin.rag.expand import expand_query, keyword_variants, topic_of
from twin.rag.prompt import MATERIAL_HEADER, ContextChunk, build_messages, words_to_tokens
from twin.rag.rerank import dedupe, mmr, rrf
from twin.rag.selfquery import self_query
from twin.vectorstore import Hit

AUTHORS = {"maya-okafor": "maya okafor", "sam-lee": "sam lee"}


def hit(i: str, score: float, text: str | None = None) -> Hit:
    return Hit(id=i, score=score, text=text or f"text {i}", document_id=f"d{i}",
               author_id="maya-okafor", platform="medium", kind="article",
               url=f"https://x.test/{i}", title=f"T{i}", published_at=0, chunk_index=0)


def test_self_query_finds_author_and_source_platform() -> None:
    assert self_query("Write a post like Sam Lee would", AUTHORS).author_id == "sam-lee"
    assert self_query("a post", AUTHORS, author="Maya Okafor").author_id == "maya-okafor"
    assert self_query("a post", AUTHORS).author_id is None  # two authors, none named
    assert self_query("a post", {"maya-okafor": "maya okafor"}).author_id == "maya-okafor"
    # The platform the post is for is not a filter; the platform material comes from is.
    assert self_query("Write a LinkedIn post about Parquet", AUTHORS).platform is None
    assert self_query("A LinkedIn post based on my Medium articles about dbt",
                      AUTHORS).platform == "medium"
    assert self_query("Summarise my Substack posts on on-call", AUTHORS).platform == "substack"
    assert self_query("from my blog: schema drift", AUTHORS).platform == "web"


def test_expansion_without_a_model() -> None:
    prompt = "Write a LinkedIn post about schema drift in partner data feeds"
    assert topic_of(prompt) == "schema drift in partner data feeds"
    variants = keyword_variants(prompt, 3)
    assert variants[0] == prompt and variants[1] == "schema drift in partner data feeds"
    assert len(variants) == 3 and len({v.lower() for v in variants}) == 3
    assert expand_query(prompt, 3, "off") == [prompt]
    assert expand_query(prompt, 1, "keywords") == [prompt]


def test_expansion_by_llm_parses_lines_and_falls_back() -> None:
    prompt = "Write a post about flaky tests"
    answer = "1. flaky test causes\n- retries hiding failures\n\n"
    assert expand_query(prompt, 3, "llm", lambda _: answer) == [
        prompt, "flaky test causes", "retries hiding failures"]
    assert expand_query(prompt, 3, "llm", lambda _: "") == keyword_variants(prompt, 3)


def test_dedupe_and_rrf() -> None:
    a = [hit("1", 0.9), hit("2", 0.8), hit("3", 0.7)]
    b = [hit("2", 0.95), hit("4", 0.6), hit("5", 0.5, text="text 1")]  # 5 repeats 1's text
    merged = dedupe([a, b])
    assert [h.id for h in merged] == ["1", "2", "3", "4"]
    assert next(h for h in merged if h.id == "2").score == 0.95
    fused = rrf([a, b], k=3)
    assert fused[0].id == "2"  # ranked high in both lists
    assert len(fused) == 3 and all(h.score > 0 for h in fused)


def test_mmr_prefers_diverse_chunks() -> None:
    query = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    vectors = np.array([[0.95, 0.31, 0.0], [0.95, 0.31, 0.0], [0.8, 0.0, 0.6]],
                       dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    hits = [hit("a", 0), hit("b", 0), hit("c", 0)]
    picked = mmr(query, hits, vectors, k=2, lam=0.5)
    assert [h.id for h in picked] == ["a", "c"]  # b duplicates a
    assert [h.id for h in mmr(query, hits, vectors, k=2, lam=1.0)] == ["a", "b"]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from twin.llm.models import resolve_base_model
    from twin.settings import Settings

    settings = Settings()
    return AutoTokenizer.from_pretrained(resolve_base_model(settings.llm.base_model,
                                                            settings.models_dir))


def test_prompt_fits_the_window_and_keeps_rank_order(tokenizer) -> None:
    chunks = [ContextChunk(text=f"Chunk {i}: " + "word " * 150, title=f"T{i}",
                           url=f"https://x.test/{i}", platform="medium", score=1 - i / 10)
              for i in range(10)]
    messages, used = build_messages("Write a post about tests", chunks, tokenizer,
                                    window=1024, max_new_tokens=300, max_words=120)
    assert len(messages) == 1 and messages[0]["role"] == "user"
    content = messages[0]["content"]
    assert content.startswith("Write a post about tests\n\nKeep it under 120 words.")
    assert MATERIAL_HEADER in content
    assert [c.url for c in used] == [f"https://x.test/{i}" for i in range(len(used))]
    assert 1 <= len(used) < 10
    rendered = tokenizer.apply_chat_template(messages, tokenize=False,
                                             add_generation_prompt=True)
    assert len(tokenizer(rendered)["input_ids"]) + 300 <= 1024
    alone, none = build_messages("Write a post", [], tokenizer, 1024, 300)
    assert alone[0]["content"] == "Write a post" and none == []
    assert words_to_tokens(300) > 300


def test_saved_link_material_is_reference_material_never_training_answers(tmp_path) -> None:
    """rag.save_links: link documents land under the author with origin "link"; the author's
    own documents are never re-labelled; re-saving adds nothing; datasets skip them."""
    import json

    import pandas as pd

    from twin.datasets.build import _candidates
    from twin.domain import Document
    from twin.rag.links import LinkMaterial, save_link_material
    from twin.settings import Settings
    from twin.warehouse import Warehouse

    settings = Settings(home=tmp_path / "home")
    words = " ".join(f"word{i}" for i in range(80))
    own = Document.build(author_id="maya-okafor", platform="medium", kind="article",
                         url="https://medium.com/@maya/own-1", title="Own", text=words)
    warehouse = Warehouse.from_settings(settings)
    warehouse.merge([own])
    guest = Document.build(author_id="guest", platform="web", kind="article",
                           url="https://example.org/paper", title="A paper", text=words + " x")
    material = LinkMaterial(documents=[guest, own.model_copy(update={"author_id": "guest"})])

    note = save_link_material(material, "maya-okafor", settings)
    assert note.startswith("saved 1 new and 0 updated")
    rows = {r["id"]: r for r in warehouse.read_table().to_pylist()}
    assert len(rows) == 2
    assert json.loads(rows[guest.id]["metadata"])["origin"] == "link"
    assert rows[guest.id]["author_id"] == "maya-okafor"
    assert "origin" not in json.loads(rows[own.id]["metadata"])
    assert save_link_material(material, "maya-okafor", settings).startswith("saved 0 new")
    assert warehouse.read_table().num_rows == 2
    assert any(r["author_id"] == "maya-okafor" for r in warehouse.runs())

    frame = _candidates(pd.DataFrame(list(rows.values())), 30, 320, 0.5)
    kept = set(frame.loc[frame["dropped"] == "", "document_id"])
    assert kept == {own.id}
    dropped = json.loads(frame.loc[frame["dropped"] != "", "dropped"].iloc[0])
    assert dropped["link material (not the author's writing)"] == 1
