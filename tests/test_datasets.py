"""The instruction dataset: grounded answers, filters, a leak-free split, versions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.helpers import demo_documents
from twin.datasets.build import (
    DatasetError,
    GroundingError,
    build_instruction_dataset,
    check_grounding,
    load_split,
)
from twin.datasets.instructions import key_phrases, offline_instruction
from twin.demo.content import load_pieces
from twin.domain import Document
from twin.features.clean import clean_for_style
from twin.settings import Settings
from twin.warehouse import Warehouse

pytestmark = pytest.mark.usefixtures("local_ray")
AUTHOR = "maya-okafor"


BEFORE_QUOTE = ("Incidents teach more than any design review I have sat through. Last week a "
                "partner renamed a column on a Friday, and our loader kept running, the "
                "dashboards stayed green, and nobody noticed for three whole days.")
QUOTE = ("> Schemas are promises. Every rename is a broken promise to somebody downstream, "
         "and the bill arrives on a weekend.\n>\n> — @someone_else")
AFTER_QUOTE = ("That is why I now check the schema of every file before it is loaded, and page "
               "a human when it changes. The check takes milliseconds, the page takes minutes, "
               "and the missing three days took us a month to repair.")
QUOTED_ARTICLE = f"{BEFORE_QUOTE}\n\n{QUOTE}\n\n{AFTER_QUOTE}"


def _documents() -> list[Document]:
    docs = demo_documents(AUTHOR)
    post = next(p for p in load_pieces() if p.kind == "post")
    when = datetime(2025, 1, 1, tzinfo=UTC)
    docs += [
        # The same post from the data export: another key, the same words.
        Document.build(author_id=AUTHOR, platform="linkedin", kind="post",
                       url="https://www.linkedin.com/feed/update/urn:li:share:1",
                       text=post.body, published_at=when),
        Document.build(author_id=AUTHOR, platform="linkedin", kind="post",
                       url="https://example.org/quote", published_at=when,
                       text="\n".join(f"> quoted line {i} from someone else's book about "
                                      "leadership and teams" for i in range(8))),
        Document.build(author_id=AUTHOR, platform="linkedin", kind="post",
                       url="https://example.org/repost", published_at=when,
                       text="Reposted this: a great thread by a colleague about migrations, "
                            "schemas, on-call rotations and what to do when a batch is late. "
                            "She explains why the first hour matters, which dashboards lie, "
                            "and how to write a handoff note that the next person can use."),
        Document.build(author_id=AUTHOR, platform="linkedin", kind="post",
                       url="https://example.org/short", text="Hiring! DM me.",
                       published_at=when),
        # Someone else's tweet embedded between two of her paragraphs.
        Document.build(author_id=AUTHOR, platform="substack", kind="article",
                       url="https://example.org/with-a-tweet", title="Broken promises",
                       text=QUOTED_ARTICLE, published_at=when),
    ]
    return docs


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    # Material from the warehouse: no Milvus here (and never another home's knowledge base).
    settings = Settings(home=tmp_path_factory.mktemp("datasets"),
                        dataset={"context_source": "warehouse"})
    docs = _documents()
    Warehouse.from_settings(settings).merge(docs)
    result = build_instruction_dataset(settings, show_progress=False)
    samples = load_split(result.path, "train") + load_split(result.path, "test")
    return {"settings": settings, "docs": docs, "result": result, "samples": samples}


def test_every_answer_is_the_authors_text_verbatim(built: dict) -> None:
    texts = {d.id: clean_for_style(d.text) for d in built["docs"]}
    samples = built["samples"]
    assert len(samples) > 40
    for sample in samples:
        assert sample["answer"] in texts[sample["document_id"]]
        assert sample["answer"] not in sample["instruction"]
        assert sample["instruction_source"] == "offline"
    card = built["result"].card
    assert card["grounding"] == {"checked": len(samples), "passed": len(samples)}
    assert card["counts"]["samples"] == len(samples)
    # LinkedIn posts are kept whole, with their line breaks, arrows and hashtags.
    post = next(s for s in samples if s["style"] == "post" and "→" in s["answer"])
    assert "\n\n→" in post["answer"] and post["answer"].rstrip().split("\n")[-1].startswith("#")


def test_code_is_routed_to_code_instructions(built: dict) -> None:
    code = [s for s in built["samples"] if s["style"] == "code"]
    assert {s["path"] for s in code} >= {"README.md", "parquet_drift/compare.py"}
    compare = next(s for s in code if s["path"] == "parquet_drift/compare.py")
    assert compare["instruction"].startswith("Write the file parquet_drift/compare.py")
    assert "def " in compare["answer"]


def test_filters_drop_duplicates_quotes_reposts_and_short_text(built: dict) -> None:
    filtered = built["result"].card["counts"]["filtered"]
    assert filtered["near-duplicate"] >= 1
    assert filtered["quotation"] == 1 and filtered["repost"] == 1
    assert filtered["too short"] >= 1
    urls = {d.id: d.url for d in built["docs"]}
    used = {urls[s["document_id"]] for s in built["samples"]}
    assert not used & {"https://example.org/quote", "https://example.org/repost",
                       "https://example.org/short"}
    answers = [s["answer"] for s in built["samples"]]
    assert len(answers) == len(set(answers))


def test_quoted_lines_are_never_part_of_an_answer(built: dict) -> None:
    answers = [s["answer"] for s in built["samples"] if s["style"] != "code"]  # code: fenced
    assert not [a for a in answers if any(line.lstrip().startswith(">")
                                          for line in a.split("\n"))]
    assert not [a for a in answers if "broken promise" in a or "@someone_else" in a]
    # Her words on both sides of the quote are answers of their own, verbatim.
    assert BEFORE_QUOTE in answers and AFTER_QUOTE in answers


def test_answers_are_cut_at_quotes_and_mostly_quoted_text_gives_none() -> None:
    from twin.datasets.samples import candidates_of

    row = {"id": "d1", "author_id": AUTHOR, "platform": "linkedin", "kind": "post",
           "title": "", "text": f"{BEFORE_QUOTE}\n{QUOTE}\n{AFTER_QUOTE}\n\n```\n> not a quote"
                                "\n```"}
    found, dropped = candidates_of(row, 30, 320, 0.5)
    # The fenced block is code in a prose post: cut off, never part of an answer.
    assert [c.answer for c in found] == [BEFORE_QUOTE, AFTER_QUOTE]
    assert dropped == {"code block in prose": 1}
    long_quote = "\n".join(f"> line {i} of a speech someone else gave about teams"
                           for i in range(9))
    found, dropped = candidates_of({**row, "text": f"{BEFORE_QUOTE}\n\n{long_quote}"},
                                   30, 320, 0.5)
    assert found == [] and dropped == {"quotation": 1}


def test_split_is_by_document_seeded_and_versioned(built: dict) -> None:
    samples = built["samples"]
    train = {s["document_id"] for s in samples if s["split"] == "train"}
    test = {s["document_id"] for s in samples if s["split"] == "test"}
    assert train and test and not train & test
    again = build_instruction_dataset(built["settings"], show_progress=False)
    assert again.reused and again.path == built["result"].path
    other = Settings(**{**built["settings"].model_dump(),
                        "dataset": {"seed": 7, "context_source": "warehouse"}})
    reseeded = build_instruction_dataset(other, show_progress=False)
    assert not reseeded.reused and reseeded.path.name.startswith("v2-")
    card = json.loads((reseeded.path / "card.json").read_text())
    assert card["counts"]["samples"] == len(samples)
    assert card["source"]["table_version"] == 0 and card["settings"]["dataset"]["seed"] == 7
    assert (reseeded.path / "train.parquet").exists() and (reseeded.path / "test.jsonl").exists()


def test_samples_carry_material_from_the_authors_other_documents(built: dict) -> None:
    """Held-out samples and a seeded share of training samples carry retrieved chunks of
    other documents (stored for the one prompt builder); every sample has its word limit."""
    samples, card = built["samples"], built["result"].card
    urls = {d.id: d.url for d in built["docs"]}
    assert card["context"]["source"] == "warehouse" and card["context"]["chunks"] > 0
    assert all(s["context"] for s in samples if s["split"] == "test")
    train = [s for s in samples if s["split"] == "train"]
    assert 0 < sum(bool(s["context"]) for s in train) < len(train)
    for sample in samples:
        assert sample["max_words"] > len(sample["answer"].split())
        assert all(c["url"] != urls[sample["document_id"]] and c["text"]
                   for c in sample["context"])


def test_the_version_holds_the_train_splits_prose_for_pretraining(built: dict) -> None:
    """``corpus.jsonl``: one row per train document (no held-out, code or link document),
    counted on the card (the rules themselves: tests/test_corpus.py)."""
    from twin.datasets.corpus import load_corpus

    samples, card = built["samples"], built["result"].card
    corpus = load_corpus(built["result"].path)
    train = {s["document_id"] for s in samples if s["split"] == "train"}
    assert corpus and {row["id"] for row in corpus} <= train
    assert set(corpus[0]) == {"id", "author_id", "text"}
    assert card["counts"]["corpus"]["documents"] == len(corpus)
    held_out = "\n".join(s["answer"] for s in samples if s["split"] == "test")
    assert not any(row["text"] in held_out or held_out[:200] in row["text"] for row in corpus)


def test_grounding_check_refuses_rewritten_answers(built: dict) -> None:
    sample = dict(built["samples"][0])
    sample["answer"] = sample["answer"].replace("the", "teh", 1) + " (edited by a model)"
    with pytest.raises(GroundingError, match="not found verbatim"):
        check_grounding([sample], Warehouse.from_settings(built["settings"]), None)


def test_empty_warehouse_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="holds no documents"):
        build_instruction_dataset(Settings(home=tmp_path), show_progress=False)


def test_offline_instructions_are_deterministic() -> None:
    sample = {"id": "s1", "answer": "Parquet files drift. Parquet schemas drift more when a "
              "partner renames a column. Loaders break.", "platform": "medium",
              "style": "article", "title": "Drift", "part": 2, "section": "Why loaders break"}
    assert key_phrases(sample["answer"], 2) == ["drift", "parquet"]
    instruction = offline_instruction(sample)
    assert instruction == offline_instruction(dict(sample))
    assert 'my Medium article "Drift"' in instruction


def test_preference_pairs_from_the_base_model(built: dict) -> None:
    from twin.datasets.preference import build_preference_dataset, load_pairs

    settings = Settings(**{**built["settings"].model_dump(), "dataset": {
        "preference_max_samples": 4, "rejected_max_new_tokens": 24, "rejected_batch_size": 4}})
    result = build_preference_dataset(settings, built["result"])
    pairs = load_pairs(result.path, "train") + load_pairs(result.path, "test")
    assert len(pairs) == 4 and result.card["grounding"]["passed"] == 4
    texts = {d.id: clean_for_style(d.text) for d in built["docs"]}
    for pair in pairs:
        assert pair["chosen"] in texts[pair["document_id"]]  # the author's words
        assert pair["rejected"] and pair["rejected"] != pair["chosen"]  # the base model's
        # The serving prompt: the sample's instruction first, then its word limit and material.
        assert pair["prompt"].split("\n", 1)[0].endswith((".", "?"))
    assert result.card["base_model"] == "SmolLM2-135M-Instruct"
    assert (settings.models_dir / "SmolLM2-135M-Instruct" / "config.json").exists()


def test_an_unloadable_base_model_is_a_clear_error(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    from twin.llm.models import ModelLoadError, load_causal_lm

    # As on an offline machine with HF_HUB_OFFLINE=1 (without it the hub lookup retries ~45 s).
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError, match="cannot load base model"):
        load_causal_lm("no-such-org/no-such-model", str(tmp_path))
