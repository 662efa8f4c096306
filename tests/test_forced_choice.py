"""The blind forced-choice judge without a model: the order of the two texts (blind, seeded,
about half each way), reading the judge's answer, the swap rule and the ``judge_fooled``
measure, on the demo author's real held-out texts and the demo run's real finished posts.

The judge here is a real OpenAI-compatible HTTP endpoint on 127.0.0.1 that answers by a fixed
rule (always "A", always the author, garbage...), standing in for an LLM so the rules can be
checked exactly; tests/test_serve.py asks the project's own Serve app (slow)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from twin.evaluate.gate import decide
from twin.evaluate.judge import (
    FORCED_CHOICE,
    author_examples,
    author_first,
    choice_prompt,
    combine,
    cut_to_words,
    forced_choice,
    forced_choice_by_model,
    match_form,
    parse_choice,
)
from twin.evaluate.style import bootstrap_ci
from twin.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures" / "forced_choice"
AUTHOR = "maya-okafor"
QUESTION = "Which of these two did the author write? Answer with A or B."


def _rows() -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / "outputs.jsonl").open()]


def _train() -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / "train.jsonl").open()]


def _texts(prompt: str) -> tuple[str, str]:
    """Text A and text B of a forced-choice prompt."""
    match = re.search(r"\nText A:\n(.*)\n\nText B:\n(.*)\n\nWhich of these", prompt, re.S)
    assert match, prompt[-300:]
    return match.group(1), match.group(2)


class Judge:
    """An OpenAI-compatible ``/v1/chat/completions`` on 127.0.0.1 whose answer to each prompt
    is ``rule(prompt)``; it keeps every request it got."""

    def __init__(self) -> None:
        self.rule: Callable[[str], str] = lambda prompt: "A"
        self.requests: list[dict] = []
        judge = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                judge.requests.append({"path": self.path, "body": body,
                                       "auth": self.headers.get("Authorization")})
                answer = judge.rule(body["messages"][-1]["content"])
                data = json.dumps({"choices": [{"message": {"role": "assistant",
                                                            "content": answer}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def judge_server() -> Iterator[Judge]:
    judge = Judge()
    yield judge
    judge.server.shutdown()


def _settings(tmp_path: Path, judge: Judge, **evaluate: object) -> Settings:
    judge.requests.clear()
    return Settings(home=tmp_path / "home",
                    evaluate={"judge_base_url": judge.url, "judge_api_key": "k",
                              "judge_model": "judge-x", **evaluate})


def _items(label: str = "twin-v1") -> list[dict]:
    return [{"id": r["id"], "instruction": r["instruction"], "reference": r["reference"],
             "output": r[label]} for r in _rows()]


def test_the_order_is_drawn_per_item_seeded_and_about_half_each_way() -> None:
    ids = [r["id"] for r in _rows()] + [s["id"] for s in _train()]
    first = [author_first(42, i) for i in ids]
    assert first == [author_first(42, i) for i in ids]  # the same every run
    assert 0.3 < sum(first) / len(first) < 0.7, sum(first)
    many = [author_first(42, f"sample-{k}") for k in range(2000)]
    assert 0.46 < sum(many) / len(many) < 0.54
    other_seed = [author_first(7, i) for i in ids]
    assert other_seed != first and 0.3 < sum(other_seed) / len(other_seed) < 0.7


def test_the_prompt_is_blind() -> None:
    """No label, no model name, no request: the two texts, the author's other writing and the
    question; the author's text stands where the order says."""
    row = _rows()[0]
    item = {"instruction": row["instruction"], "reference": row["reference"],
            "output": row["twin-v1"]}
    examples = author_examples(Settings(), _train(), AUTHOR)
    for author_as_a in (True, False):
        prompt = choice_prompt(item, author_as_a, examples)
        a, b = _texts(prompt)
        assert (a, b) == ((row["reference"], row["twin-v1"]) if author_as_a
                          else (row["twin-v1"], row["reference"]))
        assert prompt.rstrip().endswith(QUESTION)
        # Not the request: it is worded from her text ("making the point that I gave...").
        assert row["instruction"] not in prompt and "request" not in prompt.lower()
        assert all(e in prompt for e in examples)
        words = set(re.findall(r"[\w-]+", FORCED_CHOICE.lower()))
        assert not words & {"model", "twin", "base", "generated", "ai", "llm", "human"}
        assert "twin-v1" not in prompt


def test_the_authors_other_writing_is_short_prose_from_other_documents() -> None:
    train = _train()
    settings = Settings(evaluate={"judge_examples": 2, "judge_example_words": 60})
    examples = author_examples(settings, train, AUTHOR)
    assert len(examples) == 2 and examples == author_examples(settings, train, AUTHOR)
    by_text = {}
    for s in train:
        for e in examples:
            if s["answer"].startswith(e):
                by_text[e] = s
    assert set(by_text) == set(examples)  # verbatim openings of her training answers
    assert len({by_text[e]["document_id"] for e in examples}) == 2
    assert all(by_text[e]["style"] != "code" and by_text[e]["split"] == "train"
               for e in examples)
    assert all(len(e.split()) <= 60 or len(e.split()) == len(cut_to_words(e, 1).split())
               for e in examples)
    assert author_examples(Settings(evaluate={"judge_examples": 0}), train, AUTHOR) == []
    # Cut before a heading, the heading goes too ("...fancier approaches we've tried.").
    for limit in (40, 60, 120):
        shown = author_examples(Settings(evaluate={"judge_example_words": limit}), train, AUTHOR)
        assert shown and not any(e.rstrip().splitlines()[-1].startswith("#") for e in shown)
    assert author_examples(settings, train, "someone-else") == []


def test_the_authors_text_is_shown_in_the_form_of_the_post() -> None:
    """Her held-out section "## What I'd do differently" beside a post without headings loses
    its heading (the section's title came from the request); each is cut to about the post's
    length at whole sentences, verbatim otherwise."""
    headed = 0
    for row in _rows():
        for label in ("base", "twin-v1"):
            post = row[label]
            shown = match_form(row["reference"], post)
            plain = "\n".join(line for line in row["reference"].splitlines()
                              if not line.startswith("#")).strip()
            assert not any(line.startswith("#") for line in shown.splitlines())
            assert plain.startswith(shown) and shown
            first = len(cut_to_words(plain, 1).split())
            assert len(shown.split()) <= max(len(post.split()), first)
            headed += row["reference"].startswith("## ")
    assert headed == 4  # two of her sections, each beside two posts
    with_heading = "## Notes\n\n" + _rows()[0]["twin-v1"]
    assert match_form(_rows()[1]["reference"], with_heading).startswith("## What I'd do")


def test_the_authors_text_is_cut_at_whole_sentences() -> None:
    text = _rows()[0]["reference"]
    cut = cut_to_words(text, 40)
    assert text.startswith(cut) and len(cut.split()) <= 40 and cut.rstrip()[-1] in ".!?\"”)"
    assert len(cut_to_words(text, 10_000)) == len(text.rstrip())
    # Never empty: the first sentence stays even when it alone is longer.
    assert cut_to_words(text, 1) and text.startswith(cut_to_words(text, 1))


@pytest.mark.parametrize(("answer", "pick"), [
    ("A", "A"), ("B", "B"), (" b ", "B"), ("a.", "A"), ("**B**", "B"), ("(A).", "A"), ("'B'", "B"),
    ('{"answer": "A"}', "A"), ('```json\n{"answer": "b"}\n```', "B"),
    ('{"choice": "Text B"}', "B"), ('{"answer": "C"}', None), ('{"answer": "A", "pick": "B"}',
                                                                None),
    ("A. The rhythm of short lines is hers.", "A"), ("B, because it opens with a number.", "B"),
    ("a lot of both", None), ("B)\nIt opens with a number.", "B"),
    ("Answer: A", "A"), ("**Answer:** B", "B"), ("I think the author wrote B.", "B"),
    ("Text A", "A"), ("Text A is stiffer than text B, so B", None),
    ("A post like this needs more detail.", None), ("Both read like her.", None),
    ("", None), (None, None), ("{not json", None),
])
def test_the_judges_answer_is_read_robustly(answer: str | None, pick: str | None) -> None:
    assert parse_choice(answer) == pick


def test_the_swap_rule() -> None:
    assert combine([1.0, 1.0]) == 1.0 and combine([0.0, 0.0]) == 0.0
    assert combine([1.0, 0.0]) == 0.5 and combine([0.0, 1.0]) == 0.5
    assert combine([1.0, None]) is None and combine([None]) is None and combine([]) is None
    assert combine([1.0]) == 1.0 and combine([0.0]) == 0.0


def test_a_judge_that_goes_by_position_is_neither_fooled_nor_right(
        tmp_path: Path, judge_server: Judge) -> None:
    """A judge that always answers "A": with the swap every pair is inconsistent (0.5); without
    it the measure is the coin (1 exactly where the model's post was shown first)."""
    judge_server.rule = lambda prompt: "A"
    items = _items()
    swapped = forced_choice(_settings(tmp_path, judge_server), items)
    assert [r["fooled"] for r in swapped] == [0.5] * len(items)
    assert len(judge_server.requests) == 2 * len(items)
    request = judge_server.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer k"
    assert request["body"]["model"] == "judge-x" and request["body"]["temperature"] == 0.0
    assert [[a["author"] for a in r["asked"]] for r in swapped] == [
        ["A", "B"] if author_first(42, i["id"]) else ["B", "A"] for i in items]
    assert bootstrap_ci([r["fooled"] for r in swapped], 500, seed=42) == {
        "mean": 0.5, "low": 0.5, "high": 0.5, "n": len(items)}

    once = forced_choice(_settings(tmp_path, judge_server, judge_swap=False), items)
    assert len(judge_server.requests) == len(items)
    assert [r["fooled"] for r in once] == [0.0 if author_first(42, i["id"]) else 1.0
                                           for i in items]


def test_a_judge_that_knows_the_author_is_never_fooled(tmp_path: Path,
                                                       judge_server: Judge) -> None:
    """The judge picks the text that is the opening of one of her real texts: judge_fooled is 0
    for every pair; a judge that always picks the other text is fooled every time."""
    items = _items("base")
    posts = {i["output"].strip() for i in items}

    def hers(prompt: str) -> str:
        a, _ = _texts(prompt)
        return "B" if a in posts else "A"

    judge_server.rule = hers
    settings = _settings(tmp_path, judge_server)
    knows = forced_choice(settings, items)
    assert [r["fooled"] for r in knows] == [0.0] * len(items)
    # The author's text is shown in the post's form (see the next test).
    for item, request in zip(items, judge_server.requests[::2], strict=True):
        a, b = _texts(request["body"]["messages"][-1]["content"])
        assert {a, b} == {item["output"].strip(), match_form(item["reference"], item["output"])}

    judge_server.rule = lambda prompt: {"A": "B", "B": "A"}[hers(prompt)]
    assert [r["fooled"] for r in forced_choice(settings, items)] == [1.0] * len(items)


def test_judge_fooled_per_model_counts_the_same_prompts_for_every_model(
        tmp_path: Path, judge_server: Judge) -> None:
    """Through forced_choice_by_model (the evaluation's call), with the dataset's train split as
    the author's other writing: an unreadable answer for one model on one prompt drops that
    prompt for every model (paired measures), says so, and the gate can read the measure."""
    rows = _rows()
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    (dataset / "train.jsonl").write_text((FIXTURES / "train.jsonl").read_text())
    samples = [{"id": r["id"], "instruction": r["instruction"], "answer": r["reference"],
                "author_id": AUTHOR} for r in rows]
    answers = {"base": [r["base"] for r in rows], "twin-v1": [r["twin-v1"] for r in rows]}
    posts = {p.strip() for label in answers.values() for p in label}
    garbled = rows[3]["twin-v1"].strip()

    def rule(prompt: str) -> str:
        a, b = _texts(prompt)
        if garbled in (a, b):
            return "Both are fine."  # neither A nor B: not counted
        model = "A" if a in posts else "B"
        # Fooled by the twin's posts, never by the base model's.
        return model if any(t.strip() in (a, b) for t in answers["twin-v1"]) else (
            "A" if model == "B" else "B")

    judge_server.rule = rule
    settings = _settings(tmp_path, judge_server)
    result = forced_choice_by_model(settings, dataset, samples, answers)
    prompt = judge_server.requests[0]["body"]["messages"][-1]["content"]
    assert "Some of the author's other writing" in prompt
    assert all(e in prompt for e in author_examples(settings, _train(), AUTHOR))
    assert result.fooled == {"base": [0.0] * 9, "twin-v1": [1.0] * 9}
    assert result.details["twin-v1"][3]["fooled"] is None
    assert result.details["base"][3]["fooled"] == 0.0
    assert [a["answer"] for a in result.details["twin-v1"][3]["asked"]] == ["Both are fine."] * 2
    assert result.notes and "1 of 10 prompts not counted" in result.notes[0]
    scores = {label: {"voice_score": [0.5] * 9, "judge_fooled": values}
              for label, values in result.fooled.items()}
    decision = decide(scores, "twin-v1", "base", bootstrap=200)
    fooled = next(c for c in decision.comparisons if c.metric == "judge_fooled")
    assert fooled.mean == 1.0 and fooled.better
