"""`data inspect`: report fields, duplicates, token lengths, JSON and PNG output."""

import json
import random

import numpy as np
import pytest
from click.testing import CliRunner

from sotriage.cli.main import cli
from sotriage.data.dataset import write_dataset
from sotriage.data.inspect import (
    exact_duplicate_groups,
    length_summary,
    near_duplicate_pairs,
    normalized_text,
    token_lengths,
)
from sotriage.data.prepare import PrepareConfig, prepare_dataset
from sotriage.data.schema import Question
from sotriage.modeling import load_tokenizer, resolve_base_model

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def random_text(rng, words=80):
    vocabulary = [f"word{i}" for i in range(2000)]
    return " ".join(rng.choice(vocabulary) for _ in range(words))


@pytest.fixture(scope="module")
def coffee_dataset(real_posts_xml, tmp_path_factory):
    out = tmp_path_factory.mktemp("inspect") / "coffee"
    prepare_dataset(PrepareConfig(source=str(real_posts_xml), out=str(out), split="time"))
    return out


def test_inspect_cli_prepared_dataset(coffee_dataset, tmp_path):
    report_path = tmp_path / "report.json"
    plot_path = tmp_path / "lengths.png"
    result = CliRunner().invoke(cli, ["data", "inspect", str(coffee_dataset), "--json", str(report_path), "--plot", str(plot_path)])
    assert result.exit_code == 0, result.output
    assert "Token lengths" in result.output
    assert "Duplicates" in result.output

    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["kind"] == "prepared dataset"
    assert report["max_length"] == 256
    assert [report["splits"][name]["count"] for name in ("train", "validation", "test", "all")] == [180, 22, 23, 225]
    assert report["splits"]["all"]["labels"] == {"closed": 14, "open": 211}
    lengths = report["token_lengths"]["all"]
    assert lengths["count"] == 225
    assert lengths["p50"] <= lengths["p75"] <= lengths["p90"] <= lengths["p95"] <= lengths["p99"] <= lengths["max"]
    assert 0.0 <= lengths["over_max_length_share"] <= 1.0
    assert set(report["duplicates"]) == {"exact", "near"}
    assert report["texts"]["empty_title"] == 0
    assert report["texts"]["longest"]["tokens"] == lengths["max"]
    assert plot_path.read_bytes()[:8] == PNG_MAGIC


def test_inspect_cli_source_file(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("s,b,v\n" + "".join(f"Title {i},Body text of question {i},{'closed' if i % 4 == 0 else 'open'}\n" for i in range(12)) + ",,open\n",
                    encoding="utf-8")
    report_path = tmp_path / "report.json"
    result = CliRunner().invoke(cli, ["data", "inspect", str(path), "--title-column", "s", "--body-column", "b", "--label-column", "v",
                                      "--max-length", "8", "--json", str(report_path)])
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["kind"] == "source file"
    assert list(report["splits"]) == ["all"]
    assert report["splits"]["all"]["labels"] == {"closed": 3, "open": 10}
    assert report["texts"]["empty_title_and_body"] == 1
    assert report["token_lengths"]["all"]["over_max_length"] > 0


def test_inspect_cli_bad_source(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("s,b,v\nA,B,open\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["data", "inspect", str(path)])
    assert result.exit_code == 1
    assert "--title-column, --body-column and --label-column are required" in result.output


def test_inspect_finds_planted_duplicates(tmp_path):
    rng = random.Random(0)
    bodies = [random_text(rng) for _ in range(40)]
    questions = [Question(id=str(i), title=f"Title {i}", body=body, created=f"2020-01-{i % 28 + 1:02d}") for i, body in enumerate(bodies)]
    # Exact duplicate (case and whitespace differ) across splits, with a different label.
    questions.append(Question(id="exact", title="TITLE 0", body="  " + bodies[0].upper().replace(" ", "  ")))
    # Near duplicate: two nearby words of question 1 changed (Jaccard 71/85).
    words = bodies[1].split()
    words[10], words[12] = "changed", "edited"
    questions.append(Question(id="near", title="Title 1", body=" ".join(words)))
    labels = ["open"] * 40 + ["closed", "open"]
    assignment = ["train"] * 40 + ["test", "train"]
    out = tmp_path / "planted"
    write_dataset(out, questions, labels, assignment, {"label_names": ["open", "closed"], "label_set": "binary"})

    report_path = tmp_path / "report.json"
    result = CliRunner().invoke(cli, ["data", "inspect", str(out), "--json", str(report_path)])
    assert result.exit_code == 0, result.output
    duplicates = json.loads(report_path.read_text(encoding="utf-8"))["duplicates"]
    assert duplicates["exact"]["groups"] == 1
    assert duplicates["exact"]["groups_across_splits"] == 1
    assert duplicates["exact"]["groups_with_different_labels"] == 1
    assert sorted(duplicates["exact"]["examples"][0]["ids"]) == ["0", "exact"]
    assert duplicates["near"]["groups"] == 1
    assert sorted(duplicates["near"]["examples"][0]["ids"]) == ["1", "near"]
    assert 0.8 <= duplicates["near"]["examples"][0]["jaccard"] < 1.0


def test_near_duplicate_pairs_threshold():
    rng = random.Random(1)
    base = random_text(rng, 100)
    words = base.split()
    far = list(words)
    for index in range(0, 100, 4):
        far[index] = "x"
    texts = [base, " ".join(words[:98] + ["a", "b"]), " ".join(far), random_text(rng, 100), "", "short text"]
    pairs = near_duplicate_pairs(texts, threshold=0.8)
    assert [(a, b) for a, b, _ in pairs] == [(0, 1)]
    assert pairs[0][2] == pytest.approx(94 / 98, abs=1e-3)
    assert near_duplicate_pairs(["", ""]) == []


def test_exact_duplicates_normalized():
    questions = [Question(id="1", title="A  Title", body="Body\ntext"), Question(id="2", title="a title", body="body text"),
                 Question(id="3", title="a title", body="body texts")]
    texts = [normalized_text(q) for q in questions]
    assert exact_duplicate_groups(texts) == [[0, 1]]


def test_token_lengths_match_tokenizer():
    tokenizer = load_tokenizer(resolve_base_model(None))
    questions = [Question(id="1", title="How to sort a list", body="I have a list.\n\n[code]\nsorted(x)\n[/code]", tags=["python"]),
                 Question(id="2", title="", body="")]
    lengths = token_lengths(questions, tokenizer, batch_size=1)
    first = tokenizer("How to sort a list [tags: python]", add_special_tokens=False)["input_ids"]
    body = tokenizer(questions[0].body, add_special_tokens=False)["input_ids"]
    assert lengths.tolist() == [len(first) + len(body) + 3, 3]


def test_length_summary_share():
    summary = length_summary(np.array([10, 20, 30, 300, 400]), max_length=256)
    assert summary["p50"] == 30.0
    assert summary["over_max_length"] == 2
    assert summary["over_max_length_share"] == 0.4
    assert summary["max"] == 400
