"""Test helpers: collect one source directly, compare texts word for word."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from twin.collect.pipeline import collect_source, parse_sources
from twin.demo.site import _text_of
from twin.domain import SourceResult
from twin.settings import Settings


def collect_one(value: str, settings: Settings, *, export: bool = False,
                author: str = "maya-okafor") -> SourceResult:
    """Collect one link (or export archive) in this process, as a Ray task would."""
    (source,) = parse_sources([] if export else [value], [value] if export else [])
    payload = Path(source.value).read_bytes() if export and Path(source.value).is_file() else None
    return collect_source(source, author, settings.model_dump(mode="json"), payload)


def words(text: str) -> list[str]:
    """The words of a text, lowercased: markdown punctuation, spacing and code-fence
    languages (markup, which some platforms drop) do not count."""
    return re.findall(r"\w+", re.sub(r"```\w+", "```", text).lower())


def source_words(body: str) -> list[str]:
    """Words of a demo piece as the platforms show it (code-fence languages are markup)."""
    return words(_text_of(body))


def demo_documents(author: str = "maya-okafor") -> list:
    """The demo author's pieces and her parquet-drift repository as warehouse documents."""
    from twin.collect.github import repository_text
    from twin.demo.content import data_dir, load_pieces
    from twin.domain import Document

    docs = [Document.build(author_id=author, platform=p.platform if p.platform != "blog"
                           else "web", kind=p.kind, url=f"https://example.org/{p.slug}",
                           title=p.title, text=p.body, published_at=p.date)
            for p in load_pieces()]
    text, _ = repository_text(data_dir() / "github" / "parquet-drift", f"{author}/parquet-drift",
                              "Detect schema drift between Parquet files.", 200_000, 1_000_000)
    docs.append(Document.build(author_id=author, platform="github", kind="repository",
                               url=f"https://github.com/{author}/parquet-drift",
                               title=f"{author}/parquet-drift", text=text))
    return docs


def fresh_adapter(settings: Settings, folder: Path) -> None:
    """A real, freshly initialised LoRA adapter (B = 0: it answers like the base)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from twin.llm.models import resolve_base_model

    base = resolve_base_model(settings.llm.base_model, settings.models_dir)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                           LoraConfig(r=4, target_modules=["q_proj", "v_proj"],
                                      task_type="CAUSAL_LM"))
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(base).save_pretrained(folder)


def demo_kit(folder: Path, settings: Any, author: str = "maya-okafor") -> Path:
    """The demo author's kit as a dataset version holds it (``<folder>/voice/<author>/``:
    channel profile and voice model, from the documents outside a seeded fifth held out, as
    the dataset's split is); returns the ``voice`` root."""
    import hashlib

    from twin.features.clean import clean_for_style
    from twin.posts.kit import write_profiles
    from twin.voice.build import build_voice_models
    from twin.voice.corpus import cut_pieces

    docs = [d for d in demo_documents(author) if d.kind != "repository"]
    ranked = sorted(docs, key=lambda d: hashlib.sha256(f"42:{d.id}".encode()).hexdigest())
    held = {d.id for d in ranked[:round(len(ranked) * 0.2)]}
    samples = [{"author_id": author, "document_id": d.id, "style": "post",
                "split": "test" if d.id in held else "train", "answer": piece}
               for d in docs for piece in cut_pieces(clean_for_style(d.text), 320, 40)]
    build_voice_models(settings, samples, folder)
    write_profiles(settings, samples, folder / "voice", docs)
    return folder / "voice"
