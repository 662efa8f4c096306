"""Cleaning and chunking: the two cleaning paths and token-bounded chunks."""

from __future__ import annotations

import pytest

from twin.features.chunk import ChunkSizes, chunk_code, chunk_prose, chunk_text
from twin.features.clean import clean_for_retrieval, clean_for_style
from twin.features.embed import token_counter
from twin.ingest import chunk_id

MODEL = "all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def count():
    return token_counter(MODEL)


def test_style_cleaning_keeps_the_authors_voice() -> None:
    raw = "Hook line 🚀  \r\n\r\n\r\n\r\n→ point one\u200b\n→ point two\n\n#DataEngineering #MLOps"
    assert clean_for_style(raw) == ("Hook line 🚀\n\n→ point one\n→ point two\n\n"
                                    "#DataEngineering #MLOps")
    assert "\ufffd" in clean_for_style("bad \udcff byte")  # lone surrogate made valid


def test_retrieval_cleaning_removes_noise_but_not_code() -> None:
    raw = ("𝗕𝗼𝗹𝗱 claim and 𝘪𝘵𝘢𝘭𝘪𝘤 aside 🔥\n\n"
           "Read [my post](https://example.com/a?utm_source=li&utm_medium=x) or "
           "https://okafor.dev/posts/x/?ref=twitter\n\nSubscribe now\n\n#DataQuality rules\n\n"
           "```python\ndef f(x):\n    return   x  # spaces kept\n```")
    cleaned = clean_for_retrieval(raw, "post")
    assert cleaned.startswith("Bold claim and italic aside")
    assert "🔥" not in cleaned and "utm_" not in cleaned and "ref=" not in cleaned
    assert "Read my post or okafor.dev/posts/x" in cleaned
    assert "Subscribe" not in cleaned and "DataQuality rules" in cleaned
    assert "```python\ndef f(x):\n    return   x  # spaces kept\n```" in cleaned
    code = "## app.py\n\n```python\nclass A:\n    pass\n```"
    assert clean_for_retrieval(code, "repository") == code


def test_prose_chunks_respect_the_budget_and_overlap(count) -> None:
    paragraphs = [" ".join(f"Sentence {p}.{s} talks about pipelines and parquet files."
                           for s in range(12)) for p in range(6)]
    text = "\n\n".join(paragraphs)
    sizes = ChunkSizes(prose=80, overlap=20)
    chunks = chunk_prose(text, count, sizes)
    assert len(chunks) > 5
    assert all(n <= 80 for n in count(chunks))
    for first, second in zip(chunks, chunks[1:], strict=False):
        last_sentence = first.split(". ")[-1].split("\n")[-1]
        assert last_sentence.rstrip(".") in second  # whole-sentence overlap
    for p in range(6):
        for s in range(12):
            assert any(f"Sentence {p}.{s} " in c for c in chunks)


def test_huge_sentences_and_text_without_spaces_are_split(count) -> None:
    sizes = ChunkSizes(prose=50, overlap=10)
    long_sentence = " ".join(["word"] * 400)
    chunks = chunk_prose(long_sentence, count, sizes)
    assert len(chunks) >= 8 and all(n <= 50 for n in count(chunks))
    japanese = "データパイプラインは毎晩三時に壊れた。" * 60
    chunks = chunk_prose(japanese, count, sizes)
    assert all(n <= 50 for n in count(chunks)) and "".join(chunks).count("壊れた") == 60


def test_code_chunks_follow_files_and_definitions(count) -> None:
    functions = "\n\n".join(f"def function_{i}(x):\n    return x * {i} + sum(range({i}))"
                            for i in range(40))
    text = (f"# maya/tool\n\nA tool.\n\n## File: README.md\n\nShort readme.\n\n## Usage\n\n"
            f"Run it.\n\n## File: tool/core.py\n\n```python\n{functions}\n```")
    chunks = chunk_code(text, count, ChunkSizes(code=100))
    assert chunks[1] == "README.md\nShort readme.\n\n## Usage\n\nRun it."
    core = [c for c in chunks if c.startswith("tool/core.py\n")]
    assert len(core) > 3 and all(n <= 100 for n in count(core))
    for chunk in core[1:]:  # cut at definitions, not in the middle of one
        assert chunk.split("\n", 1)[1].lstrip().startswith(("def ", "```"))
    assert chunk_text("", "article", count, ChunkSizes()) == []


def test_chunk_ids_are_deterministic() -> None:
    assert chunk_id("doc", 0, "text") == chunk_id("doc", 0, "text")
    assert chunk_id("doc", 0, "text") != chunk_id("doc", 1, "text")


def test_ingest_asks_only_for_the_cpus_the_cluster_has_free() -> None:
    """A Serve app holding CPUs must not make Ray Data wait forever (it stalls silently)."""
    from twin.ingest import fit_cpus
    from twin.settings import Settings

    settings = Settings()
    assert fit_cpus(settings, 2.0) == (0.25, 1.0)  # room for everything: as configured
    map_cpus, actor_cpus = fit_cpus(settings, 0.4)  # a Serve app holds 1.6 of 2 CPUs
    # Two map steps (the Delta read with the selection, then chunking) and one actor.
    assert 2 * map_cpus + actor_cpus <= 0.4 + 1e-9 and actor_cpus >= 0.1
    assert fit_cpus(settings, 0.0)[1] == 0.1  # never zero: Ray would refuse the actor
