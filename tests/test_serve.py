"""The Serve app on a real local Ray, with the small default model and the demo author's
knowledge base in a real Milvus: posts with sources, streaming, the OpenAI client, bad input."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import demo_documents, demo_kit, fresh_adapter
from twin.demo.site import DemoSite
from twin.settings import Settings

# The live tests share one Serve app (fixture ``api``, which starts Ray); the unit tests of the
# request limits below need neither.
pytestmark = [pytest.mark.slow]
KEY = "test-key-123"
PROMPT = "Write a LinkedIn post about schema drift in partner Parquet files"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class HangingServer:
    """Accepts connections and never answers: a link that times out."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.clients: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            self.clients.append(client)

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.sock.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, milvus: dict, demo_site: DemoSite,
        local_ray: None) -> Iterator[dict]:
    from ray import serve

    from twin.ingest import run_ingest
    from twin.registry import Registry, hyperparameters
    from twin.serving.app import app_for
    from twin.serving.runner import APP_NAME, wait_healthy
    from twin.train.common import TrainResult
    from twin.warehouse import Warehouse

    root = tmp_path_factory.mktemp("serve")
    hanging = HangingServer()
    overrides = demo_site.settings_overrides()
    overrides["collect"]["allowed_hosts"].append(f"127.0.0.1:{hanging.port}")
    settings = Settings(
        home=root / "home", milvus={"port": milvus["port"], "collection": "t_serve"},
        serve={"api_key": KEY, "port": _free_port(), "llm_num_cpus": 1.0,
               "rag_num_cpus": 0.4, "max_body_bytes": 100_000},
        rag={"link_timeout_s": 4.0, "max_links": 5}, **overrides)
    Warehouse.from_settings(settings).merge(demo_documents())
    run_ingest(settings, full=True, show_progress=False)
    adapter = root / "adapter"
    fresh_adapter(settings, adapter)
    registry = Registry(settings)
    # The version carries the author's kit (voice model, channel profile) of its dataset.
    demo_kit(root / "dataset", Settings(voice={"calibration_folds": 3,
                                               "bootstrap_samples": 200}))
    result = TrainResult(adapter_dir=adapter, run="fresh-lora", steps=0,
                         info={"stage": "sft", "base_model": settings.llm.base_model,
                               "dataset": str(root / "dataset")})
    registry.set_serving(registry.register(result, hyperparameters(settings, result, 1),
                                           "test").version)
    serve.start(http_options={"host": "127.0.0.1", "port": settings.serve.port})
    serve.run(app_for(settings), name=APP_NAME, route_prefix="/", blocking=False)
    health = wait_healthy(settings, 600)
    yield {"url": settings.serve_url, "settings": settings, "health": health,
           "headers": {"Authorization": f"Bearer {KEY}"}, "site": demo_site}
    serve.shutdown()
    hanging.close()


def _post(api: dict, body: dict | str, path: str = "/v1/posts", **kwargs) -> httpx.Response:
    data = {"content": body} if isinstance(body, str) else {"json": body}
    headers = {**api["headers"], "Content-Type": "application/json", **kwargs.pop("headers", {})}
    return httpx.post(api["url"] + path, headers=headers, timeout=300, **data, **kwargs)


def test_health_names_the_registered_version_and_no_file_path(api: dict) -> None:
    """/healthz is open without the key: the version, the engine and the status only; where the
    adapter and the base model lie on disk is behind the key (/v1/model-versions)."""
    health = httpx.get(api["url"] + "/healthz", timeout=30).json()
    assert health == {"status": "ok", "model_version": "twin-v1", "engine": "transformers"}
    assert set(api["health"]) == set(health)
    served = httpx.get(api["url"] + "/v1/model-versions", headers=api["headers"],
                       timeout=30).json()
    assert served["served"] == "twin-v1" and "/" in served["model"]["adapter"]
    assert served["model"]["window"] == 8192


def test_a_post_comes_back_with_the_authors_sources(api: dict) -> None:
    answer = _post(api, {"prompt": PROMPT, "max_words": 30, "temperature": 0})
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert len(data["post"].split()) >= 5
    assert data["model_version"] == "twin-v1"
    assert 1 <= len(data["sources"]) <= 5
    assert all(s["url"].startswith("https://") and s["origin"] == "knowledge base"
               for s in data["sources"])
    assert any("Parquet" in s["title"] or "drift" in s["title"].lower()
               for s in data["sources"])
    assert data["timings"]["generate_s"] > 0 and data["timings"]["retrieve_s"] > 0
    # Greedy: one draft, finished for her channel and scored with her voice model.
    assert data["timings"]["candidates"] == 1 and len(data["candidates"]) == 1
    assert 0 <= data["voice"]["score"] <= 1 and data["voice"]["evidence"]
    assert {c["name"] for c in data["checks"]} >= {"complete ending", "length", "grounding"}


def test_a_post_is_the_best_of_several_drafts_and_ends_well(api: dict) -> None:
    """Real sampled drafts of the served model: three in one batch, the best returned, ending
    in a full sentence and linking only to its sources."""
    from twin.posts.grounding import Grounding, urls_in
    from twin.settings import PostSettings

    answer = _post(api, {"prompt": PROMPT, "max_words": 60, "temperature": 0.8,
                         "candidates": 3})
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["timings"]["candidates"] == 3 and len(data["candidates"]) == 3
    assert sum(c["chosen"] for c in data["candidates"]) == 1
    chosen = next(c for c in data["candidates"] if c["chosen"])
    # Of the drafts with a complete ending, the highest voice score less posts.check_cost per
    # other failed check (the app's default).
    cost = PostSettings().check_cost
    ended = [c for c in data["candidates"] if "complete ending" not in c["failed"]]
    if ended:
        assert chosen in ended
        assert chosen["voice"] - cost * len(chosen["failed"]) == pytest.approx(
            max(c["voice"] - cost * len(c["failed"]) for c in ended))
    assert chosen["voice"] == pytest.approx(data["voice"]["score"], abs=1e-3)
    ending = next(c for c in data["checks"] if c["name"] == "complete ending")
    assert ending["passed"], (ending["reason"], data["post"][-120:])
    sources = Grounding.of(PROMPT, [], [s["url"] for s in data["sources"]])
    assert all(sources.has_url(u) for u in urls_in(data["post"])), data["post"]
    assert "###" not in data["post"]


def test_streaming_yields_incremental_chunks(api: dict) -> None:
    events: list[tuple[str, dict]] = []
    with httpx.stream("POST", api["url"] + "/v1/posts/stream", headers=api["headers"],
                      json={"prompt": PROMPT, "max_words": 25, "temperature": 0},
                      timeout=300) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                events.append((event, json.loads(line[6:])))
    kinds = [e for e, _ in events]
    assert kinds[0] == "sources" and kinds[-1] == "done"
    tokens = [d["text"] for e, d in events if e == "token"]
    assert len(tokens) >= 3 and "".join(tokens).strip()
    assert events[0][1]["sources"] and events[-1][1]["model_version"] == "twin-v1"
    done = events[-1][1]
    assert done["post"].strip() and 0 <= done["voice"]["score"] <= 1 and done["checks"]


def test_the_openai_client_works_against_v1(api: dict) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=api["url"] + "/v1", api_key=KEY, timeout=300)
    assert {m.id for m in client.models.list()} == {"twin", "twin-rag"}
    reply = client.chat.completions.create(
        model="twin", max_tokens=24, temperature=0,
        messages=[{"role": "user", "content": "Write one sentence about data quality."}])
    assert reply.choices[0].message.content.strip()
    assert reply.usage.completion_tokens > 0
    pieces = [chunk.choices[0].delta.content or "" for chunk in client.chat.completions.create(
        model="twin-rag", max_tokens=24, temperature=0, stream=True,
        messages=[{"role": "user", "content": PROMPT}])]
    assert len([p for p in pieces if p]) >= 3


def test_links_are_fetched_refused_or_reported_and_the_post_still_comes(api: dict) -> None:
    site: DemoSite = api["site"]
    good = next(link for link in site.links() if "/posts/" in link)
    hanging = next(h for h in api["settings"].collect.allowed_hosts
                   if h not in {site.hostport(s) for s in site.servers})
    links = [good, "http://127.0.0.1:9/internal", "http://169.254.169.254/latest/meta-data/",
             f"{site.url('blog')}/no-such-post/", f"http://{hanging}/slow"]
    answer = _post(api, {"prompt": PROMPT, "links": links, "max_words": 25, "temperature": 0})
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["post"].strip()
    errors = data["link_errors"]
    assert set(errors) == set(links[1:])
    assert errors[links[1]].startswith("refused") and errors[links[2]].startswith("refused")
    assert "404" in errors[links[3]]
    assert any(w in errors[links[4]].lower() for w in ("longer than", "timeout", "timed out"))
    assert any(s["origin"] == "link" and s["url"].split("?")[0] == good.split("?")[0]
               for s in data["sources"])


def test_save_links_keeps_the_material_in_the_warehouse(api: dict) -> None:
    from twin.warehouse import Warehouse

    good = next(link for link in api["site"].links() if "/pulse/" in link or "/posts/" in link)
    answer = _post(api, {"prompt": PROMPT, "links": [good], "save_links": True,
                         "max_words": 20, "temperature": 0})
    assert answer.status_code == 200, answer.text
    assert any(n.startswith("saved 1 new") for n in answer.json()["notes"]), answer.json()
    rows = Warehouse.from_settings(api["settings"]).read_table().to_pylist()
    saved = [r for r in rows if json.loads(r["metadata"]).get("origin") == "link"]
    assert len(saved) == 1 and saved[0]["author_id"] == "maya-okafor"
    assert saved[0]["url"].split("?")[0] == good.split("?")[0]


@pytest.mark.parametrize(("body", "status", "message"), [
    ('{"prompt": "unterminated', 422, "JSON"),
    ({"prompt": "   "}, 422, "the prompt is empty"),
    ({"prompt": ""}, 422, "prompt"),
    ({"prompt": "x" * 5000}, 422, "prompt"),
    ({"prompt": "ok", "links": ["file:///etc/passwd"]}, 422, "not an http(s) link"),
    ({"prompt": "ok", "max_words": 3}, 422, "max_words"),
    ({"prompt": "ok", "temperature": "hot"}, 422, "temperature"),
    ([1, 2, 3], 422, "invalid request"),
    ({"prompt": "ok", "max_words": 20, "padding": "x" * 100}, 422, "padding"),
])
def test_malformed_requests_are_4xx_with_a_message(api: dict, body: dict | str, status: int,
                                                    message: str) -> None:
    answer = _post(api, body)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]["message"]


def test_a_request_past_its_deadline_is_504_and_the_server_goes_on(api: dict) -> None:
    late = _post(api, {"prompt": PROMPT, "max_words": 1000, "timeout_s": 3})
    assert late.status_code == 504 and "within 3s" in late.json()["error"]["message"]
    again = _post(api, {"prompt": PROMPT, "max_words": 20, "temperature": 0})
    assert again.status_code == 200 and again.json()["post"].strip()
    # Not a speed check: had the timed-out 1,000-word generation gone on, it would hold the
    # one engine for over a minute (about 70 s here) before this short request could start.
    assert again.json()["timings"]["total_s"] < 45


def test_body_size_unknown_model_and_api_key(api: dict) -> None:
    big = _post(api, json.dumps({"prompt": "x" * 200_000}))
    assert big.status_code == 413 and "bytes" in big.json()["error"]["message"]
    unknown = _post(api, {"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]},
                    path="/v1/chat/completions")
    assert unknown.status_code == 404 and "unknown model" in unknown.text
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        refused = httpx.post(api["url"] + "/v1/posts", json={"prompt": PROMPT},
                             headers=headers, timeout=30)
        assert refused.status_code == 401 and "API key" in refused.json()["error"]["message"]
        assert httpx.get(api["url"] + "/v1/models", headers=headers,
                         timeout=30).status_code == 401
    assert httpx.get(api["url"] + "/healthz", timeout=30).status_code == 200


def test_twin_search_asks_the_running_app_and_finds_what_a_local_search_finds(
        api: dict) -> None:
    """`twin search` in a fresh process is answered by the served app (which holds the
    embedder), with the same chunks as searching in the process (`--local`); filters apply."""
    import subprocess
    import sys

    env = {**os.environ, **api["settings"].to_env()}
    twin = str(Path(sys.executable).parent / "twin")

    def search(*args: str) -> tuple[list[dict], str]:
        done = subprocess.run([twin, "search", "the partner's int64 column became a timestamp",
                               "-k", "4", "--json", *args], env=env, capture_output=True,
                              text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout), done.stderr

    served, log = search()
    assert "answered by the Serve app" in log
    local, log = search("--local")
    assert "answered by the Serve app" not in log
    assert [h["id"] for h in served] == [h["id"] for h in local] and len(served) == 4
    repositories, _ = search("--kind", "repository")
    assert repositories and {h["kind"] for h in repositories} == {"repository"}
    table = subprocess.run([twin, "search", "schema drift", "-k", "2"], env=env,
                           capture_output=True, text=True, timeout=300, check=False)
    assert table.returncode == 0 and "Nearest chunks" in table.stdout
    assert "## " not in table.stdout  # snippets are text, not markdown


def test_the_dataset_teacher_path_uses_this_endpoint(api: dict) -> None:
    """Back-translation through an OpenAI-compatible endpoint: our own /v1, batched as the
    dataset stage's Ray Data step does it."""
    import pandas as pd

    from twin.datasets.instructions import add_instructions
    from twin.datasets.samples import candidates_of

    doc = next(d for d in demo_documents() if d.kind == "post")
    samples = candidates_of({"id": doc.id, "author_id": doc.author_id, "platform": "linkedin",
                             "kind": "post", "title": doc.title, "text": doc.text},
                            30, 320, 0.5)[0][:1]
    batch = pd.DataFrame([s.as_dict() for s in samples] * 2)
    teacher = {"base_url": api["url"] + "/v1", "model": "twin", "api_key": KEY,
               "timeout_s": 120}
    out = add_instructions(batch, teacher)
    assert set(out["instruction_source"]) == {"teacher:twin"}
    assert all(len(i) > 3 for i in out["instruction"])
    assert list(out["answer"]) == [samples[0].answer] * 2  # the answer is never rewritten
    broken = add_instructions(batch.copy(), {**teacher, "api_key": "wrong"})
    assert set(broken["instruction_source"]) == {"offline"}  # 401: offline, with a warning


def test_the_evaluation_judge_talks_to_this_endpoint(api: dict, caplog) -> None:
    """LLM-as-judge through an OpenAI-compatible endpoint (ours): one score pair per item,
    each a 1-3 score or None when the small model's answer holds no JSON (logged)."""
    from twin.evaluate.judge import judge

    settings = api["settings"].model_copy(deep=True)
    settings.evaluate.judge_base_url = api["url"] + "/v1"
    settings.evaluate.judge_api_key = KEY
    items = [{"instruction": "Write about schema drift", "reference": "Parquet drifted.",
              "output": "Schemas drift; contracts help."}] * 2
    scores = judge(settings, items)
    assert len(scores) == 2
    for score in scores:
        assert set(score) == {"accuracy", "style"}
        assert all(v is None or 1 <= v <= 3 for v in score.values())
    settings.evaluate.judge_api_key = "wrong"
    assert judge(settings, items[:1]) == [{"accuracy": None, "style": None}]
    assert "401" in caplog.text


def test_the_blind_forced_choice_judge_talks_to_this_endpoint(api: dict, tmp_path: Path,
                                                              caplog) -> None:
    """The blind forced choice through an OpenAI-compatible endpoint (ours), on the demo run's
    real held-out texts and finished posts: every pair asked in both orders, each answer read
    as A, B or None (logged), the pair's judge_fooled by the swap rule, and the prompts counted
    the same for both models."""
    from twin.evaluate.judge import choice_prompt, combine, forced_choice_by_model, parse_choice

    settings = api["settings"].model_copy(deep=True)
    e = settings.evaluate
    e.judge_base_url, e.judge_api_key = api["url"] + "/v1", KEY
    # One short example, so each question fits the served app's prompt limit.
    e.judge_examples, e.judge_example_words = 1, 40
    fixtures = Path(__file__).parent / "fixtures" / "forced_choice"
    rows = [json.loads(line) for line in (fixtures / "outputs.jsonl").open()][:3]
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    (dataset / "train.jsonl").write_text((fixtures / "train.jsonl").read_text())
    samples = [{"id": r["id"], "instruction": r["instruction"], "answer": r["reference"],
                "author_id": "maya-okafor"} for r in rows]
    answers = {"base": [r["base"] for r in rows], "twin-v1": [r["twin-v1"] for r in rows]}
    longest = max(len(choice_prompt({"instruction": s["instruction"], "reference": s["answer"],
                                     "output": post}, True, ["x" * 400]))
                  for s, post in zip(samples * 2, answers["base"] + answers["twin-v1"],
                                     strict=True))
    assert longest < settings.serve.max_prompt_chars, longest
    result = forced_choice_by_model(settings, dataset, samples, answers)
    for label, details in result.details.items():
        assert len(details) == len(rows)
        for detail in details:
            assert len(detail["asked"]) == 2  # evaluate.judge_swap
            assert sorted(a["author"] for a in detail["asked"]) == ["A", "B"]
            for asked in detail["asked"]:
                assert isinstance(asked["answer"], str), (label, detail)  # the endpoint answered
                assert asked["pick"] == parse_choice(asked["answer"])
            votes = [None if a["pick"] is None else float(a["pick"] != a["author"])
                     for a in detail["asked"]]
            assert detail["fooled"] == combine(votes)
    counted = [len(v) for v in result.fooled.values()]
    assert len(set(counted)) <= 1 and all(0 <= x <= 1 for v in result.fooled.values()
                                          for x in v)
    if any(d["fooled"] is None for details in result.details.values() for d in details):
        assert result.notes and "neither A nor B" in caplog.text


def test_sixteen_concurrent_clients_get_answers_or_503_never_500(api: dict) -> None:
    """A bounded load test on loopback: 16 clients, 2 short chats each, 150 s at most.
    Records the error rate and latency percentiles (tests/artifacts/serve-load.json)."""
    import statistics
    import time
    from concurrent.futures import ThreadPoolExecutor

    body = {"model": "twin", "max_tokens": 8, "temperature": 0,
            "messages": [{"role": "user", "content": "One sentence on data quality."}]}
    deadline = time.monotonic() + 150

    def client(_: int) -> list[tuple[int, float]]:
        out = []
        for _ in range(2):
            if time.monotonic() > deadline:
                break
            start = time.monotonic()
            try:
                status = _post(api, body, "/v1/chat/completions").status_code
            except httpx.TimeoutException:
                status = 0
            out.append((status, time.monotonic() - start))
        return out

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = [r for rows in pool.map(client, range(16)) for r in rows]
    statuses = [s for s, _ in results]
    latencies = sorted(t for s, t in results if s == 200)
    record = {"requests": len(results), "ok": statuses.count(200),
              "error_rate": round(1 - statuses.count(200) / max(len(results), 1), 3),
              "p50_s": round(statistics.median(latencies), 2) if latencies else None,
              "p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 2) if latencies
              else None, "max_s": round(latencies[-1], 2) if latencies else None,
              "statuses": sorted(set(statuses))}
    folder = Path(__file__).resolve().parent / "artifacts"
    folder.mkdir(exist_ok=True)
    (folder / "serve-load.json").write_text(json.dumps(record, indent=2))
    print("load test:", record)
    assert len(results) >= 16
    assert all(s == 200 or s == 503 for s in statuses), record  # no 500s, no time-outs
    assert record["ok"] >= len(results) // 2, record


def _fuzz(api: dict, operation, mode) -> list[int]:
    """Statuses of up to 15 generated requests to one operation; fails on any 5xx."""
    import contextlib

    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable

    statuses: list[int] = []

    @settings(max_examples=15, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case) -> None:
        response = case.call(base_url=api["url"], headers=api["headers"], timeout=120)
        statuses.append(response.status_code)
        # 503 is "unavailable, try again" (overload, a dependency down), a valid answer, and so
        # is 504 for a request that set its own deadline (`timeout_s`) and reached it; 500 (a
        # crash) and the other 5xx never are.
        own_deadline = isinstance(case.body, dict) and "timeout_s" in case.body
        assert (response.status_code < 500 or response.status_code == 503
                or (response.status_code == 504 and own_deadline)), (
            case.method, case.path, case.body, case.query, response.text[:300])

    with contextlib.suppress(Unsatisfiable):  # a route without parameters: nothing invalid
        call()
    return statuses


def test_fuzzing_the_openapi_spec_finds_no_server_error(api: dict) -> None:
    """schemathesis against the live /openapi.json: invalid input to every route, and valid
    input to the routes that answer without generating, never gets a 500 (or 501/502/504)."""
    import schemathesis
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(api["url"] + "/openapi.json")
    cheap = {"/healthz", "/v1/models", "/v1/library", "/v1/search", "/v1/model-versions"}
    checked: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        modes = [GenerationMode.NEGATIVE] + ([GenerationMode.POSITIVE]
                                             if operation.path in cheap else [])
        for mode in modes:
            statuses = _fuzz(api, operation, mode)
            checked.append(f"{mode.value} {operation.method.upper()} {operation.path}")
            if mode is GenerationMode.NEGATIVE and statuses:
                assert any(400 <= s < 500 for s in statuses), (operation.path, statuses)
    assert "negative POST /v1/posts" in checked and "positive GET /v1/search" in checked


def test_the_api_key_never_reaches_a_log_file(api: dict) -> None:
    """Every log this session's Ray, Serve and our own code wrote is free of the key (and of
    the refused wrong key), after requests with and without it."""
    import ray

    assert _post(api, {"prompt": "x"}, headers={"Authorization": "Bearer wrong-key-456"}
                 ).status_code == 401
    logs_dir = Path(ray._private.worker._global_node.get_logs_dir_path())
    files = [p for root in (logs_dir, api["settings"].home_dir) for p in root.rglob("*")
             if p.is_file() and p.stat().st_size < 50_000_000
             and p.suffix not in {".db", ".parquet", ".safetensors", ".bin"}]
    assert len(files) > 10
    leaks = [str(p) for p in files
             if KEY.encode() in p.read_bytes() or b"wrong-key-456" in p.read_bytes()]
    assert leaks == []


# Hostile and busy clients (issue 13): requests are bounded before they cost anything.


def _chat(api: dict, messages: list[dict], **extra) -> httpx.Response:
    body = {"model": "twin", "max_tokens": 8, "temperature": 0, "messages": messages, **extra}
    return httpx.post(api["url"] + "/v1/chat/completions", json=body, headers=api["headers"],
                      timeout=30)


def _events(response: httpx.Response, seconds: float) -> list[tuple[str, dict]]:
    """Server-sent events of ``response``, read for ``seconds`` at most."""
    import time

    deadline = time.monotonic() + seconds
    events: list[tuple[str, dict]] = []
    event = ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            events.append((event, json.loads(line[6:])))
        if time.monotonic() > deadline:
            break
    return events


def test_a_malformed_link_is_a_link_error_and_the_post_still_comes(api: dict) -> None:
    links = ["http://a..b/", "http://[::1/", f"http://{'a' * 64}.example.org/"]
    answer = _post(api, {"prompt": PROMPT, "links": links, "max_words": 20, "temperature": 0})
    assert answer.status_code == 200, answer.text
    assert answer.json()["post"].strip() and set(answer.json()["link_errors"]) == set(links)
    with httpx.stream("POST", api["url"] + "/v1/posts/stream", headers=api["headers"],
                      json={"prompt": PROMPT, "links": links, "max_words": 20},
                      timeout=120) as response:
        assert response.status_code == 200, response.read()
        event, data = _events(response, 60)[0]  # the sources; closing early ends generation
    assert event == "sources" and set(data["link_errors"]) == set(links)


def test_a_chunked_body_is_refused_once_the_bytes_read_pass_the_limit(api: dict) -> None:
    """No Content-Length: the limit (100 kB here) holds on the bytes read. The padding is in
    a field the request does not have, where the old code ignored it and served the post."""
    import select

    port = api["settings"].serve.port
    head = (f"POST /v1/posts HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {KEY}"
            "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    reply = b""
    with socket.create_connection(("127.0.0.1", port), timeout=120) as conn:
        def chunk(data: bytes) -> None:
            conn.sendall(b"%x\r\n%s\r\n" % (len(data), data))

        conn.sendall(head.encode())
        chunk(json.dumps({"prompt": PROMPT, "max_words": 20, "temperature": 0})[:-1].encode()
              + b', "padding": "')
        try:
            for _ in range(125):  # 2 MB in all, unless the server answers first
                if select.select([conn], [], [], 0.01)[0]:
                    break
                chunk(b"x" * 16_000)
            else:
                chunk(b'"}')
                conn.sendall(b"0\r\n\r\n")
        except OSError:  # the server answered and closed while the rest was being sent
            pass
        while b"}" not in reply.partition(b"\r\n\r\n")[2]:
            if not (data := conn.recv(65536)):
                break
            reply += data
    assert reply.split(b" ", 2)[1] == b"413", reply[:300]
    assert b"100000 bytes" in reply


def test_thirty_two_concurrent_posts_each_get_an_answer_by_their_own_deadline(
        api: dict) -> None:
    """More posts than one replica can write in time: each is answered (200), refused as busy
    (503) or timed out (504) by its own 8 s deadline, never left waiting; the engine is free
    again at once afterwards (the timed-out generations were stopped)."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    body = {"prompt": PROMPT, "max_words": 20, "temperature": 0, "timeout_s": 8}

    def client(_: int) -> tuple[int, float]:
        start = time.monotonic()
        try:
            status = httpx.post(api["url"] + "/v1/posts", json=body, headers=api["headers"],
                                timeout=40).status_code
        except httpx.TimeoutException:
            status = 0
        return status, round(time.monotonic() - start, 1)

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(client, range(32)))
    statuses = [s for s, _ in results]
    assert set(statuses) <= {200, 503, 504}, results
    assert max(t for _, t in results) < 8 + 10, results
    assert {503, 504} & set(statuses), results  # it was more than one replica can do
    after = _post(api, {"prompt": PROMPT, "max_words": 20, "temperature": 0})
    assert after.status_code == 200 and after.json()["timings"]["total_s"] < 45, after.text


def test_a_stream_past_its_deadline_ends_with_an_error_event(api: dict) -> None:
    import time

    start = time.monotonic()
    with httpx.stream("POST", api["url"] + "/v1/posts/stream", headers=api["headers"],
                      json={"prompt": PROMPT, "max_words": 1000, "timeout_s": 4},
                      timeout=60) as response:
        assert response.status_code == 200
        events = _events(response, 25)
    assert time.monotonic() - start < 4 + 10
    event, data = events[-1]
    assert event == "error" and data["status"] == 504 and "within 4s" in data["message"]


def test_chats_are_bounded_before_any_generation(api: dict) -> None:
    """Roles and order (422), the number of messages and the rendered prompt's tokens against
    the model's window less the answer's budget (413): refused at once, nothing generated."""
    import time

    wrong_order = _chat(api, [{"role": "assistant", "content": "hi"},
                              {"role": "user", "content": "hi"}])
    assert wrong_order.status_code == 422 and "role" in wrong_order.json()["error"]["message"]
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": "ok"} for i in range(41)]
    many = _chat(api, turns)
    assert many.status_code == 413, many.text
    assert "41 messages" in many.json()["error"]["message"]
    history = ("Partner Parquet files drift: an int64 column became a timestamp. " * 300)[:15000]
    start = time.monotonic()
    long = _chat(api, [{"role": "user", "content": history},
                       {"role": "assistant", "content": "Noted."},
                       {"role": "user", "content": history[:3900]}], max_tokens=4096)
    assert long.status_code == 413, long.text
    message = long.json()["error"]["message"]
    assert "8192" in message and "4096" in message and "tokens" in message
    assert time.monotonic() - start < 10  # refused, not generated


def _observed(api: dict) -> dict:
    """The version every route reports or generates with, and the served adapter."""
    get = {"headers": api["headers"], "timeout": 60}
    served = httpx.get(api["url"] + "/v1/model-versions", **get).json()
    chat = _chat(api, [{"role": "user", "content": "One word on data."}], max_tokens=4)
    assert chat.status_code == 200, chat.text
    post = _post(api, {"prompt": PROMPT, "max_words": 20, "temperature": 0})
    assert post.status_code == 200, post.text
    return {"healthz": httpx.get(api["url"] + "/healthz", timeout=60).json()["model_version"],
            "models": {m["root"] for m in httpx.get(api["url"] + "/v1/models",
                                                    **get).json()["data"]},
            "model-versions": served["served"], "adapter": served["model"]["adapter"],
            "chat": chat.json()["system_fingerprint"], "post": post.json()["model_version"]}


def _llm_replicas() -> set[tuple[str, str]]:
    import ray

    return {(a["name"], a["namespace"]) for a in ray.util.list_named_actors(all_namespaces=True)
            if "LLMDeployment" in a["name"]}


def _redeploy(api: dict, version: str) -> None:
    """Deploy the app again (resolving the served model anew); wait until it serves
    ``version``."""
    import time

    from ray import serve

    from twin.serving.app import app_for
    from twin.serving.runner import APP_NAME

    serve.run(app_for(api["settings"]), name=APP_NAME, route_prefix="/", blocking=False)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            health = httpx.get(api["url"] + "/healthz", timeout=30)
            if health.status_code == 200 and health.json()["model_version"] == version:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"the redeployed app never served {version}")


def test_a_moved_serving_alias_changes_nothing_until_the_app_is_redeployed(api: dict) -> None:
    """The served model is resolved once per deployment of the app. Moving the `serving`
    alias to another version changes no route, not even after the LLM replica dies and Serve
    starts a new one; deploying the app again serves the new version everywhere. (Last of the
    live tests: it redeploys the app, and puts the first version back.)"""
    import time

    import ray

    from twin.registry import Registry, hyperparameters
    from twin.train.common import TrainResult

    settings = api["settings"]
    registry = Registry(settings)
    first = registry.serving()
    assert first is not None and first.version == 1
    before = _observed(api)
    assert before.pop("models") == {"twin-v1"} and "/" in before.pop("adapter")
    assert set(before.values()) == {"twin-v1"}, before
    again = TrainResult(adapter_dir=registry.adapter_path(first), run="second-lora", steps=0,
                        info={"stage": "sft", "base_model": settings.llm.base_model})
    second = registry.register(again, hyperparameters(settings, again, 1), "test")
    try:
        registry.set_serving(second.version)
        assert registry.serving().version == second.version == 2
        moved = _observed(api)
        assert moved["adapter"] == str(registry.adapter_path(first)), moved
        assert moved["models"] == {"twin-v1"}
        assert {v for k, v in moved.items() if k not in ("adapter", "models")} == {"twin-v1"}

        # A replica that dies is replaced by one built with the same served model.
        old = _llm_replicas()
        assert len(old) == 1
        for name, namespace in old:
            ray.kill(ray.get_actor(name, namespace=namespace), no_restart=True)
        deadline = time.monotonic() + 300
        while (not _llm_replicas() or _llm_replicas() & old) and time.monotonic() < deadline:
            time.sleep(1)
        assert _llm_replicas() and not _llm_replicas() & old, "no new LLM replica"
        while time.monotonic() < deadline:  # until the new replica has loaded and answers
            try:
                if _chat(api, [{"role": "user", "content": "Hi"}], max_tokens=2
                         ).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        restarted = _observed(api)  # the chat and the post are written by the new replica
        assert restarted == moved, restarted

        _redeploy(api, "twin-v2")
        redeployed = _observed(api)
        assert redeployed["adapter"] == str(registry.adapter_path(second)) != moved["adapter"]
        assert redeployed["models"] == {"twin-v2"}
        assert {v for k, v in redeployed.items() if k not in ("adapter", "models")} \
            == {"twin-v2"}, redeployed
    finally:
        registry.set_serving(first.version)
        _redeploy(api, "twin-v1")


# The same limits as units: no Ray, no Serve.


@pytest.mark.parametrize("roles", [
    ["assistant", "user"], ["user", "user"], ["user", "assistant"], ["system"],
    ["user", "system", "user"], ["system", "system", "user"],
    ["user", "assistant", "assistant", "user"],
])
def test_chat_roles_go_system_first_then_alternate_and_end_with_the_user(
        roles: list[str]) -> None:
    from pydantic import ValidationError

    from twin.serving.openai_api import ChatRequest

    with pytest.raises(ValidationError, match="role"):
        ChatRequest(messages=[{"role": r, "content": "hi"} for r in roles])


def test_well_ordered_chats_pass_and_unknown_roles_do_not() -> None:
    from pydantic import ValidationError

    from twin.serving.openai_api import ChatRequest

    for roles in (["user"], ["system", "user"], ["user", "assistant", "user"],
                  ["system", "user", "assistant", "user"]):
        ChatRequest(messages=[{"role": r, "content": "hi"} for r in roles])
    for role in ("tool", "developer", "User"):
        with pytest.raises(ValidationError):
            ChatRequest(messages=[{"role": role, "content": "hi"}])


def test_the_rendered_prompt_is_counted_with_the_real_tokenizer(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from twin.llm.models import resolve_base_model
    from twin.rag.prompt import rendered_tokens, window_problem

    settings = Settings(home=tmp_path / "home")
    tokenizer = AutoTokenizer.from_pretrained(resolve_base_model(settings.llm.base_model,
                                                                 settings.models_dir))
    chat = [{"role": "user", "content": "One sentence on data quality."}]
    text = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert rendered_tokens(tokenizer, chat) == len(
        tokenizer(text, add_special_tokens=False)["input_ids"])
    # The template's own default system turn counts too.
    assert rendered_tokens(tokenizer, chat) > len(tokenizer(chat[0]["content"])["input_ids"]) + 8
    assert window_problem(36, 512, 8192) is None
    problem = window_problem(7800, 512, 8192)
    assert problem and all(n in problem for n in ("7800", "512", "8192", "7680"))
    assert window_problem(10, 8192, 8192)  # no room left for any prompt


def test_malformed_links_are_each_a_link_error_not_a_failed_request(tmp_path: Path) -> None:
    from twin.rag.links import fetch_links

    bad = ["http://a..b/", "http://[::1/", f"http://{'a' * 64}.example.org/"]  # rag.max_links
    material = fetch_links(bad, "guest", Settings(home=tmp_path / "home"))
    assert set(material.errors) == set(bad) and material.documents == []
    assert all(e.startswith(("refused", "not a valid link")) for e in material.errors.values())


@pytest.fixture
def gateway_app() -> Iterator:
    """The Gateway's FastAPI app in this process, with a key and a 1,000-byte body limit: its
    guards answer before any route (the routes themselves need the Gateway's deployments)."""
    from twin.serving.api import create_api
    from twin.settings import ServeSettings

    yield create_api(ServeSettings(api_key=KEY, max_body_bytes=1000))


def test_the_api_key_is_compared_in_constant_time(gateway_app, monkeypatch) -> None:
    import hmac

    from fastapi.testclient import TestClient

    import twin.serving.guard as guard_module

    real, seen = hmac.compare_digest, []

    def spy(a, b) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(guard_module.hmac, "compare_digest", spy)
    client = TestClient(gateway_app)
    for headers in ({}, {"Authorization": "Bearer wrong"},
                    {"Authorization": f"Bearer {KEY[:-1]}ü".encode("latin-1")}):
        answer = client.get("/v1/models", headers=headers)
        assert answer.status_code == 401 and "API key" in answer.json()["error"]["message"]
    assert len(seen) == 3 and all(isinstance(a, bytes) for a, _ in seen)


def test_a_chunked_body_is_measured_by_the_bytes_read(gateway_app) -> None:
    from fastapi.testclient import TestClient

    # Past the guard a route needs the Gateway's deployments: an error here, not a 413.
    client = TestClient(gateway_app, raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}

    def body(padding: int) -> Iterator[bytes]:  # no Content-Length: sent chunked
        yield b'{"prompt": "ok", "padding": "'
        for _ in range(padding // 100):
            yield b"x" * 100
        yield b'"}'

    big = client.post("/v1/posts", content=body(5000), headers=headers)
    assert big.status_code == 413 and "1000 bytes" in big.json()["error"]["message"]
    assert client.post("/v1/posts", content=body(500), headers=headers).status_code != 413
    sized = client.post("/v1/posts", content=b"{" + b" " * 2000 + b"}", headers=headers)
    assert sized.status_code == 413  # a declared Content-Length over the limit: not read


async def test_a_full_queue_is_503_busy_with_retry_after() -> None:
    from ray.serve.exceptions import BackPressureError
    from starlette.requests import Request

    from twin.serving.http import failed

    request = Request({"type": "http", "method": "POST", "path": "/v1/posts", "headers": [],
                       "query_string": b""})
    answer = await failed(request, BackPressureError(num_queued_requests=16,
                                                      max_queued_requests=16))
    assert answer.status_code == 503 and int(answer.headers["retry-after"]) >= 1
    assert "busy" in json.loads(answer.body)["error"]["message"]


def test_generation_stops_at_its_deadline_when_cancelled_and_past_the_window(
        tmp_path: Path) -> None:
    import threading
    import time

    from twin.llm.chat import GenParams
    from twin.llm.engines import describe_model, load_engine

    settings = Settings(home=tmp_path / "home")
    served = describe_model("transformers", settings.llm.base_model, None, label="base",
                            version=None, cache_dir=str(settings.models_dir))
    engine = load_engine(served)
    prompt = engine.render([{"role": "user",
                             "content": "Write a very long story about data pipelines."}])
    start = time.monotonic()
    pieces = list(engine.stream_blocking(prompt, GenParams(4000,
                                                           deadline=time.monotonic() + 1.5)))
    assert pieces and time.monotonic() - start < 10  # 4,000 tokens would take minutes
    cancelled = threading.Event()
    cancelled.set()
    start = time.monotonic()
    assert list(engine.stream_blocking(prompt, GenParams(4000), cancelled)) == []  # no prefill
    assert time.monotonic() - start < 1
    too_long = engine.render([{"role": "user", "content": "data quality " * 5000}])
    with pytest.raises(ValueError, match="window"):
        list(engine.stream_blocking(too_long, GenParams(16)))
