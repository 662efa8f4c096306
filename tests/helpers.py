"""Test helpers: collect one source directly, compare texts word for word."""

from __future__ import annotations

import re
from pathlib import Path

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
