"""The pretraining corpus: the author's train-split prose, nothing the evaluation holds out.

Built the way the dataset stage builds it (candidates cut from the demo author's documents,
near-duplicates dropped, split by document), without Ray: the stage's Ray steps only map
:func:`twin.datasets.samples.candidates_of` over the documents.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.helpers import demo_documents
from twin.datasets.build import split_documents
from twin.datasets.corpus import build_corpus, corpus_counts, load_corpus, write_corpus
from twin.datasets.samples import candidates_of, drop_near_duplicates
from twin.domain import LINK_ORIGIN, Document
from twin.features.clean import clean_for_style
from twin.settings import Settings
from twin.warehouse import Warehouse

AUTHOR = "maya-okafor"
WHEN = datetime(2025, 1, 1, tzinfo=UTC)
QUOTED = ("> Schemas are promises. Every rename is a broken promise to somebody downstream, "
          "and the bill arrives on a weekend.")
OWN = ("That is why I now check the schema of every file before it is loaded, and page a human "
       "when it changes. The check takes milliseconds, the page takes minutes, and the missing "
       "three days took us a month to repair.")


def _samples(docs: list[Document], settings: Settings) -> list[dict]:
    """Samples as the dataset stage makes them (before instructions), with their split."""
    d = settings.dataset
    found = []
    for doc in docs:
        if doc.metadata.get("origin") == LINK_ORIGIN:
            continue
        row = {"id": doc.id, "author_id": doc.author_id, "platform": str(doc.platform),
               "kind": str(doc.kind), "title": doc.title, "text": doc.text}
        found += candidates_of(row, d.min_words, d.max_words, d.max_quote_ratio)[0]
    kept, _ = drop_near_duplicates(found, d.near_duplicate_jaccard)
    samples = [c.as_dict() for c in kept]
    test_docs = split_documents([s["document_id"] for s in samples], d.test_fraction, d.seed)
    for s in samples:
        s["split"] = "test" if s["document_id"] in test_docs else "train"
    return samples


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    settings = Settings(home=tmp_path_factory.mktemp("corpus"))
    docs = demo_documents(AUTHOR)
    docs += [
        Document.build(author_id=AUTHOR, platform="web", kind="article",
                       url="https://example.org/links/someone-elses", metadata={
                           "origin": LINK_ORIGIN},
                       text="Someone else's essay about pipelines, saved from a link. " * 12),
        Document.build(author_id=AUTHOR, platform="substack", kind="article",
                       url="https://example.org/with-a-quote", title="Broken promises",
                       text=f"{OWN}\n\n{QUOTED}\n\n{OWN.replace('three', 'four')}",
                       published_at=WHEN),
    ]
    # Through the warehouse, as the dataset stage reads them.
    warehouse = Warehouse.from_settings(settings)
    warehouse.merge(docs)
    docs = warehouse.documents(version=warehouse.version())
    samples = _samples(docs, settings)
    corpus = build_corpus(docs, samples, settings.dataset.context_max_overlap)
    return {"settings": settings, "docs": docs, "samples": samples, "corpus": corpus}


def test_the_corpus_holds_only_train_documents(demo: dict) -> None:
    train = {s["document_id"] for s in demo["samples"] if s["split"] == "train"}
    test = {s["document_id"] for s in demo["samples"] if s["split"] == "test"}
    assert test and len(demo["corpus"]) >= 10
    ids = [row["id"] for row in demo["corpus"]]
    assert set(ids) <= train and not set(ids) & test
    assert all(row["author_id"] == AUTHOR for row in demo["corpus"])


def test_no_test_documents_text_is_in_the_corpus(demo: dict) -> None:
    test = {s["document_id"] for s in demo["samples"] if s["split"] == "test"}
    text = "\n".join(row["text"] for row in demo["corpus"])
    held_out = [s["answer"] for s in demo["samples"] if s["split"] == "test"]
    assert held_out
    for answer in held_out:
        for paragraph in answer.split("\n\n"):
            if len(paragraph.split()) >= 8:  # headings and sign-offs may repeat anywhere
                assert paragraph not in text
    for doc in demo["docs"]:
        if doc.id in test:
            assert clean_for_style(doc.text)[:300] not in text


def test_no_code_links_or_quoted_lines(demo: dict) -> None:
    by_id = {d.id: d for d in demo["docs"]}
    kinds = {str(by_id[row["id"]].kind) for row in demo["corpus"]}
    assert "repository" not in kinds
    assert not any(by_id[row["id"]].metadata.get("origin") == LINK_ORIGIN
                   for row in demo["corpus"])
    for row in demo["corpus"]:
        assert "```" not in row["text"]
        assert not any(line.lstrip().startswith(">") for line in row["text"].splitlines())
        # The author's words verbatim: each paragraph is in the document's cleaned text.
        cleaned = clean_for_style(by_id[row["id"]].text)
        assert all(p in cleaned for p in row["text"].split("\n\n"))


def test_a_cross_post_of_a_held_out_piece_stays_out() -> None:
    held = Document.build(author_id=AUTHOR, platform="substack", kind="article",
                          url="https://example.org/held", text=OWN, published_at=WHEN)
    mine = "A paragraph of her own about on-call handoffs, written for this round-up only."
    roundup = Document.build(author_id=AUTHOR, platform="linkedin", kind="post",
                             url="https://example.org/roundup", text=f"{mine}\n\n{OWN}",
                             published_at=WHEN)
    samples = [{"document_id": held.id, "split": "test"},
               {"document_id": roundup.id, "split": "train"}]
    (row,) = build_corpus([held, roundup], samples, 0.3)
    assert row["id"] == roundup.id and row["text"] == mine


def test_the_card_counts_and_the_file_round_trip(demo: dict, tmp_path) -> None:
    counts = corpus_counts(demo["corpus"])
    assert counts["documents"] == len(demo["corpus"])
    assert counts["words"] > 1000
    write_corpus(tmp_path, demo["corpus"])
    assert load_corpus(tmp_path) == demo["corpus"]
    assert load_corpus(tmp_path / "missing") == []
