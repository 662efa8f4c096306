"""The README's main command: the demo author end to end on a local Ray: collect, ingest,
search, build the datasets, a short fine-tune (registered), and a before/after sample."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from twin.demo.content import AUTHOR_NAME
from twin.demo.site import DemoSite
from twin.orchestration import submit_dataset_job, submit_ingest_job, submit_train_job
from twin.rayjobs import follow, submit_stage, summary_from_logs
from twin.report import hits_table, stats_table
from twin.retrieval import search
from twin.services import SERVICES, down, up
from twin.settings import Settings, deep_merge
from twin.warehouse import Warehouse

log = logging.getLogger(__name__)
SAMPLE_QUERY = "a partner changed a column type and the loader broke at 3 a.m."


def demo_settings(settings: Settings, site: DemoSite) -> Settings:
    """The settings with the platforms pointed at the local demo site."""
    return Settings(**deep_merge(settings.model_dump(), site.settings_overrides()))


def _job_printer(console: Console) -> Any:
    def show(line: str) -> None:
        if "::twin-summary::" not in line:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    return show


def before_after(settings: Settings, dataset_dir: str, adapter: str,
                 max_new_tokens: int = 120) -> dict[str, str]:
    """The base model's and the twin's answers to the first held-out instruction."""
    from twin.datasets.build import load_split
    from twin.llm.models import generate

    sample = load_split(Path(dataset_dir), "test")[0]
    prompt = [sample["instruction"]]
    cache = str(settings.models_dir)
    decoding = {"top_p": settings.llm.top_p,
                "repetition_penalty": settings.llm.repetition_penalty}
    base = generate(prompt, settings.llm.base_model, cache, max_new_tokens, **decoding)[0]
    twin = generate(prompt, settings.llm.base_model, cache, max_new_tokens, adapter=adapter,
                    **decoding)[0]
    return {"instruction": sample["instruction"], "base model": base, "twin": twin,
            "the author wrote": sample["answer"]}


DEMO_PROMPT = ("Write a LinkedIn post about what a partner's silent schema change taught us "
               "about data contracts")


def serve_and_ask(settings: Settings, console: Console) -> dict[str, Any]:
    """Deploy the Serve app on the demo's Ray head, ask for a post, print it with sources."""
    import httpx
    from rich.table import Table

    from twin.serving import runner

    health = runner.start(settings)
    url = runner.base_url(settings)
    console.print(f"    serving {health['model_version']} ({health['engine']}) at {url} "
                  f"(API docs: {url}/docs)")
    console.print(f"    POST /v1/posts {DEMO_PROMPT!r}", markup=False)
    headers = {"Authorization": f"Bearer {settings.serve.api_key}"} \
        if settings.serve.api_key else {}
    answer = httpx.post(f"{url}/v1/posts", headers=headers, timeout=600,
                        json={"prompt": DEMO_PROMPT, "max_words": 120, "temperature": 0.7})
    answer.raise_for_status()
    data = answer.json()
    console.print(data["post"], markup=False, highlight=False)
    table = Table("score", "platform", "title", "url", title="sources")
    for source in data["sources"]:
        table.add_row(f"{source['score']:.3f}", source["platform"], source["title"],
                      source["url"])
    console.print(table)
    return data


def run_demo(settings: Settings, keep_running: bool = False,
             console: Console | None = None) -> dict[str, Any]:
    """Start Ray, serve the demo sites, submit the collect job, print what was collected."""
    console = console or Console()
    start = time.monotonic()
    started = [s.name for s in SERVICES
               if not s.is_external(settings) and not s.is_running(settings)]
    console.print("[bold]1/8[/] starting local services (Ray head with job submission, "
                  "Milvus Lite)…")
    for status in up(settings):
        console.print(f"    {status.name}: {status.state} {status.address or ''} "
                      f"{status.detail or ''}")
    try:
        with DemoSite(settings.home_dir / "demo", settings.demo_base_port) as site:
            local = demo_settings(settings, site)
            links, exports = site.links(), [str(p) for p in site.exports()]
            console.print(f"[bold]2/8[/] demo sites on 127.0.0.1 "
                          f"({', '.join(f'{k} {site.hostport(k)}' for k in site.servers)}); "
                          f"submitting the collect job: {len(links)} links, "
                          f"{len(exports)} export archives")
            args = ["--author", AUTHOR_NAME]
            for link in links:
                args += ["--link", link]
            for export in exports:
                args += ["--export", export]
            job_id = submit_stage("collect.py", args, local,
                                  metadata={"stage": "collect", "demo": "true"})
            console.print(f"    Ray job {job_id} (follow it: ray job logs {job_id} --follow)")
            logs = follow(job_id, local, on_line=lambda line: console.print(
                line, markup=False, highlight=False, soft_wrap=True)
                if "::twin-summary::" not in line else None)
        summary = summary_from_logs(logs) or {}
        console.print("    what the warehouse holds now:")
        console.print(stats_table(Warehouse.from_settings(settings).stats()))
        collected_at = time.monotonic()

        console.print("[bold]3/8[/] submitting the ingest job (clean, chunk, embed into Milvus "
                      "with Ray Data)…")
        ingest = submit_ingest_job(settings, on_line=lambda line: console.print(
            line, markup=False, highlight=False, soft_wrap=True)
            if "::twin-summary::" not in line else None)
        ingested_at = time.monotonic()

        console.print(f"[bold]4/8[/] a sample search of the knowledge base: {SAMPLE_QUERY!r}")
        hits = search(SAMPLE_QUERY, settings, author=AUTHOR_NAME, k=3)
        console.print(hits_table(hits, SAMPLE_QUERY))
        searched_at = time.monotonic()

        show = _job_printer(console)
        console.print("[bold]5/8[/] submitting the dataset job (instructions by back-translation;"
                      " every answer is the author's own text, checked verbatim)…")
        data = submit_dataset_job(settings, author=AUTHOR_NAME, on_line=show)
        counts = data.get("counts", {})
        console.print(f"    dataset {data.get('version')}: {counts.get('train')} train / "
                      f"{counts.get('test')} test samples from {counts.get('documents')} "
                      f"documents; grounding {data.get('grounding', {}).get('passed')}/"
                      f"{data.get('grounding', {}).get('checked')}")
        dataset_at = time.monotonic()

        steps = settings.demo_train_steps
        console.print(f"[bold]6/8[/] submitting the train job: a short LoRA SFT ({steps} steps) "
                      "on Ray Train, registered in the model registry and marked for serving…")
        # The demo's own head has the machine to itself: give the one worker every core (2 max).
        tuned = settings.model_copy(deep=True)
        tuned.train.cpus_per_worker = max(tuned.train.cpus_per_worker,
                                          float(min(2, os.cpu_count() or 1)))
        tuned.train.learning_rate = settings.demo_train_learning_rate
        tuned.train.max_length = settings.demo_train_max_length
        trained = submit_train_job(tuned, on_line=show, dataset=data["path"],
                                   max_steps=steps, serve=True)
        sft = trained["sft"]
        console.print(f"    model version {sft['version']}: loss {sft['losses'][0]:.3f} -> "
                      f"{sft['losses'][-1]:.3f} in {sft['steps']} steps ({sft['seconds']:.0f}s)"
                      f"; adapter {sft['adapter']}")
        trained_at = time.monotonic()

        console.print("[bold]7/8[/] before/after on a held-out instruction (same prompt, chat "
                      "template and greedy decoding):")
        sample = before_after(settings, data["path"], sft["adapter"])
        console.print(f"    instruction: {sample['instruction']}", markup=False)
        for label in ("base model", "twin", "the author wrote"):
            console.print(f"[bold]{label}:[/]")
            console.print(sample[label], markup=False, highlight=False)
        sampled_at = time.monotonic()

        console.print("[bold]8/8[/] serving the twin on Ray Serve (RAG + the registered model) "
                      "and asking it for a post…")
        served = serve_and_ask(settings, console)
        elapsed = time.monotonic() - start
        collect_s = summary.get("seconds", 0)
        console.print(f"demo finished in {elapsed:.0f}s (collection step "
                      f"{collected_at - start:.0f}s [collect job {collect_s:.0f}s], ingest step "
                      f"{ingested_at - collected_at:.0f}s, search "
                      f"{searched_at - ingested_at:.0f}s, dataset step "
                      f"{dataset_at - searched_at:.0f}s, train step {trained_at - dataset_at:.0f}s"
                      f", before/after {sampled_at - trained_at:.0f}s, serve + post "
                      f"{time.monotonic() - sampled_at:.0f}s)")
        return {"job_id": job_id, "summary": summary, "ingest": ingest, "hits": len(hits),
                "dataset": data, "train": trained, "sample": sample, "post": served,
                "seconds": elapsed}
    finally:
        if started and not keep_running:
            down(settings, started)
            console.print(f"stopped what this demo started ({', '.join(started)}); use "
                          "--keep-running to keep it")
