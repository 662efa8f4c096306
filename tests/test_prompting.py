"""The one prompt: training, serving and evaluation build it with the same function, and the
dataset stage gives samples material from the author's other documents in its shape.

Real inputs: the demo author's documents (retrieved from as ingest chunks them, embedded with
the shipped model) and the base model's tokenizer and chat template. No Ray, no generation.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.helpers import demo_documents
from twin.datasets.context import (
    WarehouseIndex,
    add_context,
    gets_context,
    open_finder,
    overlap,
    retrieve_context,
)
from twin.datasets.samples import candidates_of, shingles
from twin.domain import Document
from twin.features.clean import clean_for_style
from twin.prompting import (
    MATERIAL_HEADER,
    TokenizerFormat,
    build_messages,
    chunks_of,
    sample_messages,
    word_limit,
)
from twin.settings import Settings

AUTHOR = "maya-okafor"
PLATFORM_WORDS = {"linkedin": "LinkedIn post", "medium": "Medium article", "web": "blog post",
                  "substack": "newsletter issue", "github": "README"}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("prompting") / "home",
                    dataset={"context_share": 1.0, "context_source": "warehouse"})


@pytest.fixture(scope="module")
def documents() -> list[Document]:
    """The demo author's pieces, plus the LinkedIn export's copy of one of her posts (the
    same words under another URL: a cross-post retrieval would otherwise hand back)."""
    docs = demo_documents(AUTHOR)
    post = next(d for d in docs if d.kind == "post")
    docs.append(Document.build(author_id=AUTHOR, platform="linkedin", kind="post",
                               url="https://www.linkedin.com/feed/update/urn:li:share:7",
                               title=post.title, text=post.text,
                               published_at=datetime(2025, 1, 1, tzinfo=UTC)))
    return docs


@pytest.fixture(scope="module")
def samples(documents: list[Document], settings: Settings) -> list[dict[str, Any]]:
    """Dataset samples cut from the real documents, asked for by their titles the way a
    person asks; every fifth document held out."""
    d = settings.dataset
    out: list[dict[str, Any]] = []
    for n, doc in enumerate(sorted(documents[:-1], key=lambda doc: doc.url)):
        found, _ = candidates_of(doc.model_dump(), d.min_words, d.max_words, d.max_quote_ratio)
        for candidate in found:
            row = candidate.as_dict()
            row["instruction"] = (f"Write a {PLATFORM_WORDS[row['platform']]} about "
                                  f"{(row['title'] or 'my work').lower()}.")
            row["split"] = "test" if n % 5 == 0 else "train"
            out.append(row)
    return out


@pytest.fixture(scope="module")
def index(documents: list[Document], settings: Settings) -> WarehouseIndex:
    return WarehouseIndex.build(documents, settings)


@pytest.fixture(scope="module")
def with_context(samples: list[dict[str, Any]], documents: list[Document],
                 index: WarehouseIndex, settings: Settings) -> tuple[list[dict], Any]:
    copies = [dict(s) for s in samples]
    counts = add_context(copies, documents, index.find, settings)
    return copies, counts


@pytest.fixture(scope="module")
def fmt(settings: Settings) -> TokenizerFormat:
    from transformers import AutoTokenizer

    from twin.llm.models import resolve_base_model

    path = resolve_base_model(settings.llm.base_model, settings.models_dir)
    return TokenizerFormat(AutoTokenizer.from_pretrained(path), settings.train.max_length)


def test_serving_and_the_rag_module_use_the_one_builder() -> None:
    """The RAG deployment's import, the serving module's names and the training/evaluation
    helpers are the same objects: there is no second template to drift."""
    import twin.prompting
    import twin.rag.prompt
    from twin.llm import chat

    assert twin.rag.prompt.build_messages is twin.prompting.build_messages
    assert twin.rag.prompt.MATERIAL_HEADER is twin.prompting.MATERIAL_HEADER
    assert twin.rag.prompt.ContextChunk is twin.prompting.ContextChunk
    assert chat.TokenizerFormat is twin.prompting.TokenizerFormat


def test_training_prompt_is_the_serving_prompt(with_context: tuple, fmt: TokenizerFormat,
                                               settings: Settings) -> None:
    """For the same request and chunks, the sample's prompt (training, evaluation) is the
    message the RAG deployment builds, header, labels and word limit included; and the chat
    trl renders for training is the engine's rendering of the served chat."""
    from twin.prompting import ANSWER_END_TOKENS
    from twin.train.sft import training_messages

    samples, _ = with_context
    sample = next(s for s in samples if s["context"] and s["style"] == "post")
    window = 2048
    answer_tokens = fmt.count_tokens(sample["answer"]) + ANSWER_END_TOKENS
    served, used = build_messages(sample["instruction"], chunks_of(sample), fmt, window,
                                  answer_tokens, sample["max_words"],
                                  settings.dataset.context_tokens, None, None)
    trained, trained_used = sample_messages(sample, fmt, window, answer_tokens,
                                            settings.dataset.context_tokens)
    assert trained == served and trained_used == used and used
    content = served[0]["content"]
    assert content.startswith(sample["instruction"]
                              + f"\n\nKeep it under {sample['max_words']} words.")
    assert MATERIAL_HEADER in content
    assert f"\n\n[1] {used[0].title} ({used[0].platform})\n" in content

    pair = training_messages(sample, TokenizerFormat(fmt.tokenizer, window),
                             settings.dataset.context_tokens)
    assert pair["prompt"] == served
    assert pair["completion"] == [{"role": "assistant", "content": sample["answer"]}]
    prompt_text = fmt.tokenizer.apply_chat_template(pair["prompt"], tokenize=False,
                                                    add_generation_prompt=True)
    assert prompt_text == fmt.render(served)  # trl's prompt is what the engine prefills


def test_evaluation_asks_the_held_out_samples_as_serving_would(with_context: tuple,
                                                               fmt: TokenizerFormat,
                                                               settings: Settings) -> None:
    from twin.evaluate.generation import evaluation_prompts

    samples, _ = with_context
    held_out = [s for s in samples if s["split"] == "test"][:4]
    assert held_out and all(s["context"] for s in held_out)
    prompts = evaluation_prompts(settings, held_out, fmt.tokenizer)
    window = settings.serve.vllm_max_model_len
    for sample, prompt in zip(held_out, prompts, strict=True):
        served, _ = build_messages(sample["instruction"], chunks_of(sample), fmt, window,
                                   settings.evaluate.max_new_tokens, sample["max_words"],
                                   settings.rag.context_tokens)
        assert prompt == served[0]["content"] and MATERIAL_HEADER in prompt


def test_material_comes_only_from_the_authors_other_documents(
        with_context: tuple, documents: list[Document], settings: Settings) -> None:
    """Never the sample's own document or URL, never a copy of its own text (the export's
    cross-post of a post is found by retrieval and dropped), at most context_chunks each."""
    samples, counts = with_context
    urls = {d.id: d.url for d in documents}
    own_text = {d.id: clean_for_style(d.text) for d in documents}
    assert counts["chunks"] > 0 and counts["repeats the sample's own text"] > 0
    for sample in samples:
        assert 0 < len(sample["context"]) <= settings.dataset.context_chunks
        own = shingles(own_text[sample["document_id"]])
        for chunk in sample["context"]:
            assert chunk["url"] != urls[sample["document_id"]]
            assert chunk["text"] not in own_text[sample["document_id"]]
            assert overlap(chunk["text"], own) <= settings.dataset.context_max_overlap
            assert set(chunk) >= {"title", "url", "platform", "text"}
    copied = next(d for d in documents if d.kind == "post")
    for sample in (s for s in samples if s["document_id"] == copied.id):
        assert "urn:li:share:7" not in {c["url"] for c in sample["context"]}


def test_material_is_about_the_request(with_context: tuple) -> None:
    """Retrieval works on the real texts: a post on 'null is not zero' gets material that
    talks about nulls or missing values, the football SQL piece gets SQL."""
    samples, _ = with_context
    null_post = next(s for s in samples if s["title"] == "Null is not zero")
    assert any("null" in c["text"].lower() for c in null_post["context"])
    sql = next(s for s in samples if s["title"].startswith("Teaching My Nephew SQL"))
    assert any("sql" in c["text"].lower() or "select" in c["text"].lower()
               for c in sql["context"])


def test_training_prompt_and_answer_fit_the_training_length(with_context: tuple,
                                                            fmt: TokenizerFormat,
                                                            settings: Settings) -> None:
    """Rendered prompt plus answer stay within train.max_length (the default 512 and the
    demo's 256); material never exceeds dataset.context_tokens; an answer that fills the
    window alone gets no material; short answers do get it."""
    from twin.prompting import ANSWER_END_TOKENS
    from twin.train.sft import training_messages

    samples, _ = with_context
    cap = settings.dataset.context_tokens
    for max_length in (settings.train.max_length, settings.demo_train_max_length, 1024):
        window_fmt = TokenizerFormat(fmt.tokenizer, max_length)
        with_material = 0
        for sample in samples:
            pair = training_messages(sample, window_fmt, cap)
            answer = fmt.count_tokens(sample["answer"]) + ANSWER_END_TOKENS
            content = pair["prompt"][0]["content"]
            bare, _ = sample_messages({**sample, "context": []}, window_fmt, max_length, answer)
            if MATERIAL_HEADER in content:
                with_material += 1
                assert fmt.rendered_tokens(pair["prompt"]) + answer <= max_length
                material = content[len(bare[0]["content"]):]
                assert fmt.count_tokens(material) <= cap + fmt.count_tokens(MATERIAL_HEADER) + 8
            if fmt.rendered_tokens(bare) + answer > max_length:
                assert content == bare[0]["content"]  # no room: the request alone
        if max_length >= 1024:
            assert with_material >= len(samples) // 3


def test_preference_pairs_are_asked_with_the_serving_prompt(with_context: tuple,
                                                            fmt: TokenizerFormat,
                                                            settings: Settings) -> None:
    """DPO's prompt is the sample's serving prompt too, with room in train.max_length for the
    longer of the author's answer and the base model's."""
    from twin.datasets.preference import preference_prompt

    samples, _ = with_context
    window_fmt = TokenizerFormat(fmt.tokenizer, 1024)
    prompts = [preference_prompt(s, window_fmt, settings) for s in samples]
    assert sum(MATERIAL_HEADER in p for p in prompts) >= len(samples) // 3
    for sample, prompt in zip(samples, prompts, strict=True):
        assert prompt.startswith(sample["instruction"])
        longer = max(fmt.count_tokens(sample["answer"]),
                     settings.dataset.rejected_max_new_tokens)
        chat = [{"role": "user", "content": prompt}]
        if MATERIAL_HEADER in prompt:
            assert fmt.rendered_tokens(chat) + longer <= 1024


def test_which_samples_carry_material_is_a_seeded_share(samples: list[dict[str, Any]]) -> None:
    train = [s for s in samples if s["split"] == "train"]
    test = [s for s in samples if s["split"] == "test"]
    assert all(gets_context(s, 0.0, 42) for s in test)  # held out: always, as served
    assert not any(gets_context(s, 0.0, 42) for s in train)
    assert all(gets_context(s, 1.0, 42) for s in train)
    half = [gets_context(s, 0.5, 42) for s in train]
    assert half == [gets_context(s, 0.5, 42) for s in train]  # deterministic
    assert 0.2 < sum(half) / len(half) < 0.8


def test_word_limit_and_the_card(samples: list[dict[str, Any]], documents: list[Document],
                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    """Without a knowledge base the dataset stage falls back to the warehouse and says so;
    with context_share 0 training samples carry no material but keep their word limit."""
    assert word_limit("one two three") == 50 and word_limit("w " * 50) == 100
    settings = Settings(home=tmp_path_factory.mktemp("card") / "home",
                        dataset={"context_share": 0.0, "context_source": "warehouse"})
    posts = [d for d in documents if d.kind == "post"]  # a smaller index: a faster test
    copies = [dict(s) for s in samples if s["document_id"] in {d.id for d in posts}]
    assert {s["split"] for s in copies} == {"train", "test"}
    card = retrieve_context(copies, posts, settings)
    assert card["source"] == "warehouse"
    assert all(s["max_words"] >= len(s["answer"].split()) for s in copies)
    assert all(s["context"] == [] for s in copies if s["split"] == "train")
    assert card["test samples with material"] == sum(s["split"] == "test" for s in copies)
    finder, source, close = open_finder(settings, posts, {AUTHOR})
    close()
    assert source == "warehouse" and len(finder("null values", AUTHOR, posts[0].id, 2)) == 2


def test_no_milvus_falls_back_to_the_warehouse_unless_the_knowledge_base_is_required(
        documents: list[Document], tmp_path_factory: pytest.TempPathFactory) -> None:
    """auto: a knowledge base that cannot be reached means the warehouse (logged, and named
    in the card); knowledge-base: the dataset stage stops with Milvus' own message."""
    from twin.vectorstore import VectorStoreError

    home = tmp_path_factory.mktemp("nomilvus") / "home"
    posts = [d for d in documents if d.kind == "post"][:4]
    auto = Settings(home=home, milvus={"port": 1}, dataset={"context_source": "auto"})
    _, source, close = open_finder(auto, posts, {AUTHOR})
    close()
    assert source == "warehouse"
    required = Settings(home=home, milvus={"port": 1},
                        dataset={"context_source": "knowledge-base"})
    with pytest.raises(VectorStoreError, match="cannot reach Milvus"):
        open_finder(required, posts, {AUTHOR})


def test_an_old_sample_without_material_is_asked_as_before(fmt: TokenizerFormat) -> None:
    """Datasets written before samples carried material (no context, no word limit) render
    the instruction alone, as training did then."""
    messages, used = sample_messages({"instruction": "Write a post about tests"}, fmt, 512, 100)
    assert messages == [{"role": "user", "content": "Write a post about tests"}] and used == []


@pytest.mark.slow
def test_material_from_the_knowledge_base_leaves_the_own_document_out(
        tmp_path_factory: pytest.TempPathFactory, milvus: dict, local_ray: None,
        documents: list[Document], samples: list[dict[str, Any]]) -> None:
    """After `twin ingest`, auto retrieval uses Milvus through twin.retrieval.search, with the
    sample's document filtered out in the search itself."""
    from twin.ingest import run_ingest
    from twin.retrieval import search
    from twin.warehouse import Warehouse

    settings = Settings(home=tmp_path_factory.mktemp("kb") / "home",
                        milvus={"port": milvus["port"], "collection": "t_context"},
                        dataset={"context_share": 1.0, "context_source": "auto"})
    Warehouse.from_settings(settings).merge(documents)
    run_ingest(settings, full=True, show_progress=False)
    null_post = next(d for d in documents if d.title == "Null is not zero")
    hits = search("null is not zero", settings, author=AUTHOR, k=10, mode="hybrid",
                  exclude_document=null_post.id)
    assert hits and all(h.document_id != null_post.id for h in hits)
    copies = [dict(s) for s in samples]
    card = retrieve_context(copies, documents, settings)
    assert card["source"] == "knowledge-base" and card["chunks"] > 0
    urls = {d.id: d.url for d in documents}
    for sample in copies:
        assert all(c["url"] != urls[sample["document_id"]] for c in sample["context"])
