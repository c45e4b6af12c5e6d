import pytest

from sotriage.data.split import stratified_split, time_split
from sotriage.data.text import clean_markdown, question_text


def test_markdown_indented_code_marked():
    body = "I get an error:\n\n    x = foo()\n    print(x)\n\nWhat is wrong?"
    assert clean_markdown(body) == "I get an error:\n\n[code]\nx = foo()\nprint(x)\n[/code]\nWhat is wrong?"


def test_markdown_code_modes():
    body = "Run `ls` here:\n\n    rm -rf /tmp/x\n\nthanks"
    assert "[code]" in clean_markdown(body, code="placeholder")
    assert "rm -rf" not in clean_markdown(body, code="placeholder")
    dropped = clean_markdown(body, code="drop")
    assert "rm -rf" not in dropped
    assert "[code]" not in dropped
    assert "ls" not in dropped.split()


def test_markdown_fenced_code_and_links():
    body = "See [the docs](http://example.com/x) and ![img](http://example.com/a.png)\n```\nint a;\n```\n**bold** &amp; <b>tag</b>"
    text = clean_markdown(body)
    assert "the docs" in text
    assert "http://example.com" not in text
    assert "[code]\nint a;\n[/code]" in text
    assert "bold & tag" in text


def test_markdown_rejects_unknown_code_mode():
    with pytest.raises(ValueError, match="invalid code mode 'strip'"):
        clean_markdown("x", code="strip")


def test_question_text_puts_tags_after_title():
    assert question_text("Title", "Body", ["python", "pandas"]) == ("Title [tags: python pandas]", "Body")


def test_stratified_split_is_deterministic_and_balanced():
    labels = ["open"] * 600 + ["closed"] * 400
    first = stratified_split(labels, seed=7)
    assert first == stratified_split(labels, seed=7)
    assert first != stratified_split(labels, seed=8)
    for split, expected in (("train", 800), ("validation", 100), ("test", 100)):
        rows = [label for label, name in zip(labels, first) if name == split]
        assert len(rows) == expected
        assert rows.count("open") / len(rows) == pytest.approx(0.6, abs=0.01)


def test_split_rejects_bad_fractions():
    with pytest.raises(ValueError, match="sum to 1"):
        stratified_split(["a", "b"], fractions=(0.5, 0.5, 0.5))


def test_time_split_orders_by_date():
    created = [f"2010-01-{day:02d}T00:00:00" for day in (5, 1, 3, 2, 4, 9, 7, 8, 6, 10)]
    assignment = time_split(created, fractions=(0.6, 0.2, 0.2))
    train_dates = [c for c, s in zip(created, assignment) if s == "train"]
    test_dates = [c for c, s in zip(created, assignment) if s == "test"]
    assert max(train_dates) < min(test_dates)
    assert sorted(test_dates) == ["2010-01-09T00:00:00", "2010-01-10T00:00:00"]
