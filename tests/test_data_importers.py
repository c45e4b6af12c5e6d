"""Importers: Stack Exchange dumps, generic CSV / JSONL / Parquet files, source routing, time split."""

import gzip
import json
import shutil

import pytest
from click.testing import CliRunner
from lxml import etree

from sotriage.cli.main import cli
from sotriage.data.dataset import load_dataset
from sotriage.data.generic import GenericColumns, parse_label_map, read_generic
from sotriage.data.html_text import html_to_text
from sotriage.data.prepare import PrepareConfig, prepare_dataset
from sotriage.data.sources import source_kind
from sotriage.data.stackexchange import read_stackexchange_dump
from sotriage.errors import InputError


def write_dump_file(path, root, rows):
    """Write a dump-style XML file: <root> with one <row .../> per dict, attributes escaped by lxml."""
    element = etree.Element(root)
    for row in rows:
        etree.SubElement(element, "row", {name: str(value) for name, value in row.items()})
    path.write_bytes(etree.tostring(element, xml_declaration=True, encoding="utf-8", pretty_print=True))
    return path


def question_row(post_id, created="2015-01-01T10:00:00.000", closed=None, tags="<coffee>", body="<p>Body text</p>", **extra):
    row = {"Id": post_id, "PostTypeId": 1, "CreationDate": created, "Title": f"Question {post_id}", "Body": body, "Tags": tags}
    if closed:
        row["ClosedDate"] = closed
    row.update(extra)
    return row


def close_event(event_id, post_id, created, reason):
    return {"Id": event_id, "PostHistoryTypeId": 10, "PostId": post_id, "CreationDate": created, "Comment": reason}


# --- Stack Exchange dumps: the real file ------------------------------------------------------------


def test_real_dump_questions(real_posts_xml):
    dump = read_stackexchange_dump(real_posts_xml, progress=False)
    questions = list(dump)
    assert len(questions) == 225
    assert sum(q.status == "closed" for q in questions) == 14
    assert {q.status for q in questions} == {"open", "closed"}
    assert len({q.id for q in questions}) == 225
    assert all(q.title and q.tags and q.created for q in questions)
    assert not any("<p>" in q.body or "&lt;" in q.body for q in questions)
    assert dump.stats.posts == 592
    assert dump.bytes_read == real_posts_xml.stat().st_size


def test_real_dump_entities_and_images(real_posts_xml):
    questions = {q.id: q for q in read_stackexchange_dump(real_posts_xml, progress=False)}
    assert questions["40"].title == "Does closing ground coffee in clip&close container help preserve the aroma?"
    assert "clip&close container help" in questions["40"].body
    assert questions["40"].status == "closed"
    assert questions["4"].body.startswith("I own a drip coffee pot: [image: enter image description here]")
    assert questions["1"].tags == ["storage", "whole-bean"]
    assert questions["1"].created == "2015-01-27T20:09:32"


def test_real_dump_folder_and_max_rows(real_posts_xml):
    questions = list(read_stackexchange_dump(real_posts_xml.parent, max_rows=10, progress=False))
    assert [q.id for q in questions][:3] == ["1", "2", "3"]
    assert len(questions) == 10


# --- Stack Exchange dumps: crafted files -------------------------------------------------------------


def test_dump_both_tag_formats(tmp_path):
    posts = write_dump_file(tmp_path / "Posts.xml", "posts", [
        question_row(1, tags="<python><pandas>"),
        question_row(2, tags="|python|data-frame|"),
        question_row(3, tags=""),
        {"Id": 4, "PostTypeId": 2, "ParentId": 1, "CreationDate": "2015-01-01T11:00:00.000", "Body": "<p>answer</p>"},
    ])
    questions = list(read_stackexchange_dump(posts, progress=False))
    assert [q.id for q in questions] == ["1", "2", "3"]
    assert questions[0].tags == ["python", "pandas"]
    assert questions[1].tags == ["python", "data-frame"]
    assert questions[2].tags == []


def test_dump_html_body_code_modes():
    body = (
        "<p>Call <code>f()</code> as in <a href='https://example.com'>the docs</a> &amp; more.</p>\n"
        "<pre><code>def f():\n    return 1 &lt; 2\n</code></pre>\n<ul><li>one</li><li>two</li></ul>"
    )
    assert html_to_text(body, "keep") == (
        "Call f() as in the docs & more.\n\n[code]\ndef f():\n    return 1 < 2\n[/code]\n\n- one\n- two"
    )
    assert html_to_text(body, "placeholder") == "Call f() as in the docs & more.\n\n[code]\n\n- one\n- two"
    assert html_to_text(body, "drop") == "Call as in the docs & more.\n\n- one\n- two"
    assert html_to_text("", "keep") == ""


def test_dump_close_reasons_from_post_history(tmp_path):
    write_dump_file(tmp_path / "Posts.xml", "posts", [
        question_row(1),
        question_row(2, closed="2015-02-01T00:00:00.000"),
        question_row(3, closed="2015-02-01T00:00:00.000"),
        question_row(4, closed="2015-03-01T00:00:00.000"),
        question_row(5, closed="2015-02-01T00:00:00.000"),
        question_row(6, closed="2015-02-01T00:00:00.000"),
        question_row(7, closed="2015-02-01T00:00:00.000"),
        question_row(8, closed="2015-02-01T00:00:00.000"),
        question_row(9, closed="2015-02-01T00:00:00.000"),
        question_row(10, closed="2015-02-01T00:00:00.000"),
    ])
    write_dump_file(tmp_path / "PostHistory.xml", "posthistory", [
        close_event(1, 2, "2015-02-01T00:00:00.000", 102),
        # Closed, reopened, closed again: the event at ClosedDate counts, not the first one.
        close_event(2, 3, "2015-01-10T00:00:00.000", 4),
        close_event(3, 3, "2015-02-01T00:00:00.000", 105),
        # An event after ClosedDate does not count.
        close_event(4, 4, "2015-03-01T00:00:00.000", 7),
        close_event(5, 4, "2015-04-01T00:00:00.000", 2),
        close_event(6, 5, "2015-02-01T00:00:00.000", 101),
        close_event(7, 6, "2015-02-01T00:00:00.000", 20),
        close_event(8, 7, "2015-02-01T00:00:00.000", 103),
        close_event(9, 8, "2015-02-01T00:00:00.000", 3),
        # Question 9 has no close event; question 10 closed with the old "too localized" id.
        close_event(10, 10, "2015-02-01T00:00:00.000", 104),
        {"Id": 11, "PostHistoryTypeId": 2, "PostId": 1, "CreationDate": "2015-01-01T10:00:00.000", "Text": "body"},
    ])
    dump = read_stackexchange_dump(tmp_path, labels="reasons", progress=False)
    statuses = {q.id: q.status for q in dump}
    assert statuses == {
        "1": "open",
        "2": "off topic",
        "3": "not constructive",
        "4": "too localized",
        "7": "not a real question",
        "8": "not constructive",
        "10": "not a real question",
    }
    assert dump.stats.duplicates_dropped == 1
    assert dump.stats.unmapped_reason_ids == {"20": 1}
    assert dump.stats.closed_without_close_event == 1
    assert dump.stats.unmapped_dropped == 2

    binary = {q.id: q.status for q in read_stackexchange_dump(tmp_path, labels="binary", progress=False)}
    assert binary["6"] == "closed"
    assert binary["9"] == "closed"
    assert "5" not in binary

    with_duplicates = {q.id: q.status for q in read_stackexchange_dump(tmp_path, keep_duplicates=True, progress=False)}
    assert with_duplicates["5"] == "closed"


def test_dump_reasons_need_post_history(tmp_path):
    posts = write_dump_file(tmp_path / "Posts.xml", "posts", [question_row(1)])
    with pytest.raises(InputError, match=r"--labels reasons needs the close reasons from PostHistory.xml.*--labels binary"):
        read_stackexchange_dump(posts, labels="reasons")


def test_dump_keep_duplicates_needs_binary(tmp_path):
    posts = write_dump_file(tmp_path / "Posts.xml", "posts", [question_row(1)])
    write_dump_file(tmp_path / "PostHistory.xml", "posthistory", [])
    with pytest.raises(InputError, match="--keep-duplicates works only with --labels binary"):
        read_stackexchange_dump(posts, labels="reasons", keep_duplicates=True)


def test_dump_users_fill_account_age(tmp_path):
    posts = write_dump_file(tmp_path / "Posts.xml", "posts", [
        question_row(1, created="2015-01-11T00:00:00.000", OwnerUserId=5),
        question_row(2, OwnerUserId=99),
        question_row(3),
    ])
    write_dump_file(tmp_path / "Users.xml", "users", [
        {"Id": -1, "Reputation": 1, "CreationDate": "2014-01-01T00:00:00.000"},
        {"Id": 5, "Reputation": 1234, "CreationDate": "2015-01-01T00:00:00.000"},
    ])
    default = list(read_stackexchange_dump(posts, progress=False))
    assert default[0].account_age_days == pytest.approx(10.0)
    assert default[0].reputation is None
    assert default[1].account_age_days is None
    assert default[2].account_age_days is None

    dump = read_stackexchange_dump(posts, dump_reputation=True, progress=False)
    with_reputation = list(dump)
    assert with_reputation[0].reputation == 1234.0
    assert dump.stats.owners_not_in_users == 1


def test_dump_truncated_file(real_posts_xml, tmp_path):
    data = real_posts_xml.read_bytes()
    truncated = tmp_path / "Posts.xml"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as error:
        list(read_stackexchange_dump(truncated, progress=False))
    message = str(error.value)
    assert str(truncated) in message
    assert "invalid XML at line" in message
    assert "truncated" in message
    assert "Extract Posts.xml from the dump's .7z archive again" in message


def test_dump_malformed_file(tmp_path):
    path = tmp_path / "Posts.xml"
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<posts>\n'
        '  <row Id="1" PostTypeId="1" Title="ok" Body="" />\n'
        '  <row Id="2" PostTypeId="1" Title="a < b" Body="" />\n'
        '  <row Id="3" PostTypeId="1" Title="ok" Body="" />\n</posts>\n',
        encoding="utf-8",
    )
    with pytest.raises(InputError) as error:
        list(read_stackexchange_dump(path, progress=False))
    message = str(error.value)
    assert "invalid XML at line 4" in message
    assert "corrupt" in message
    assert "truncated" not in message


def test_dump_wrong_root(tmp_path):
    users = write_dump_file(tmp_path / "Users.xml", "users", [{"Id": 1, "Reputation": 5}])
    with pytest.raises(InputError, match=r"not a Stack Exchange Posts.xml: the root element is <users>, expected <posts>"):
        list(read_stackexchange_dump(users, progress=False))
    other = tmp_path / "other.xml"
    other.write_text("<catalog><book/></catalog>", encoding="utf-8")
    with pytest.raises(InputError, match=r"root element is <catalog>"):
        list(read_stackexchange_dump(other, progress=False))


def test_dump_empty_file(tmp_path):
    path = tmp_path / "Posts.xml"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="the file is empty"):
        list(read_stackexchange_dump(path, progress=False))


# --- generic files ---------------------------------------------------------------------------------

COLUMNS = dict(title="subject", body="text", label="verdict")


def test_generic_csv_custom_columns(tmp_path):
    path = tmp_path / "tickets.csv"
    path.write_text(
        "key,subject,text,verdict,labels,when,rep\n"
        'a1,How to sort?,"Use `sorted`:\n\n    sorted(x)",ok,"python, sorting",2020-05-01T10:00:00Z,12\n'
        "a2,Buy now,cheap pills,spam,<spam><ads>,2020-05-02 09:30:00,\n"
        "a3,Why?,Because,Off Topic,|misc|,1588500000,3\n",
        encoding="utf-8",
    )
    columns = GenericColumns(**COLUMNS, id="key", tags="labels", created="when", reputation="rep",
                             label_map=parse_label_map("spam=closed,ok=open"))
    questions = list(read_generic(path, columns))
    assert [q.id for q in questions] == ["a1", "a2", "a3"]
    assert [q.status for q in questions] == ["open", "closed", "off topic"]
    assert questions[0].body == "Use sorted:\n\n[code]\nsorted(x)\n[/code]"
    assert [q.tags for q in questions] == [["python", "sorting"], ["spam", "ads"], ["misc"]]
    assert [q.created for q in questions] == ["2020-05-01T10:00:00", "2020-05-02T09:30:00", "2020-05-03T10:00:00"]
    assert [q.reputation for q in questions] == [12.0, None, 3.0]


def test_generic_jsonl_gz_html_body(tmp_path):
    path = tmp_path / "q.jsonl.gz"
    records = [
        {"subject": "Fish &amp; chips", "text": "<p>See <code>x</code></p><pre><code>a = 1</code></pre>", "verdict": "not a real question",
         "tags": ["a", "b"], "age": 3.5, "answers": 2},
        {"subject": "Second", "text": "<p>plain</p>", "verdict": "open"},
    ]
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(json.dumps(r) for r in records) + "\n\n")
    columns = GenericColumns(**COLUMNS, tags="tags", account_age="age", answers="answers", body_format="html")
    questions = list(read_generic(path, columns, code="placeholder"))
    assert questions[0].title == "Fish & chips"
    assert questions[0].body == "See x\n\n[code]"
    assert questions[0].tags == ["a", "b"]
    assert questions[0].account_age_days == 3.5
    assert questions[0].answer_count == 2.0
    assert questions[1].tags == []
    assert questions[1].id == "row-2"


def test_generic_jsonl_optional_key_later(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"subject": "A", "text": "x", "verdict": "open"}\n'
                    '{"subject": "B", "text": "y", "verdict": "closed", "tags": "p q"}\n', encoding="utf-8")
    questions = list(read_generic(path, GenericColumns(**COLUMNS, tags="tags")))
    assert [q.tags for q in questions] == [[], ["p", "q"]]
    with pytest.raises(InputError, match=r"column\(s\) not found: 'tagz' \(--tags-column\)"):
        list(read_generic(path, GenericColumns(**COLUMNS, tags="tagz")))


def test_generic_parquet(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame({
        "subject": ["One", "Two"],
        "text": ["body *one*", "body two"],
        "verdict": ["closed", "open"],
        "created": pd.to_datetime(["2021-01-02 03:04:05", "2021-01-01 00:00:00"]),
    })
    path = tmp_path / "q.parquet"
    frame.to_parquet(path)
    questions = list(read_generic(path, GenericColumns(**COLUMNS, created="created", body_format="text")))
    assert [q.status for q in questions] == ["closed", "open"]
    assert questions[0].body == "body *one*"
    assert [q.created for q in questions] == ["2021-01-02T03:04:05", "2021-01-01T00:00:00"]


def test_generic_missing_column_lists_found(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("subject,body,verdict\nA,B,open\n", encoding="utf-8")
    with pytest.raises(InputError) as error:
        list(read_generic(path, GenericColumns(**COLUMNS)))
    message = str(error.value)
    assert "column(s) not found: 'text' (--body-column)" in message
    assert "Columns in the file: subject, body, verdict" in message


def test_generic_non_utf8_names_offset(tmp_path):
    path = tmp_path / "q.csv"
    path.write_bytes("subject,text,verdict\nCaf\xe9,body,open\n".encode("latin-1"))
    with pytest.raises(InputError) as error:
        list(read_generic(path, GenericColumns(**COLUMNS)))
    message = str(error.value)
    assert str(path) in message
    assert "not valid UTF-8 at byte offset 24 (line 2" in message
    assert "Re-encode the file to UTF-8" in message

    jsonl = tmp_path / "q.jsonl"
    jsonl.write_bytes(b'{"subject": "ok", "text": "b", "verdict": "open"}\n{"subject": "caf\xe9", "text": "b", "verdict": "open"}\n')
    with pytest.raises(InputError, match=r"not valid UTF-8 at byte offset 66 \(line 2"):
        list(read_generic(jsonl, GenericColumns(**COLUMNS)))


def test_generic_unknown_label_names_row(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("subject,text,verdict\nA,B,open\nC,D,spam\n", encoding="utf-8")
    with pytest.raises(InputError) as error:
        list(read_generic(path, GenericColumns(**COLUMNS)))
    message = str(error.value)
    assert "data row 2: unknown label 'spam' in column 'verdict'" in message
    assert "--label-map 'spam=closed'" in message


def test_generic_empty_files(tmp_path):
    for name in ("q.csv", "q.jsonl", "q.parquet"):
        path = tmp_path / name
        path.write_bytes(b"")
        with pytest.raises(InputError, match="the file is empty"):
            list(read_generic(path, GenericColumns(**COLUMNS)))
    header_only = tmp_path / "header.csv"
    header_only.write_text("subject,text,verdict\n", encoding="utf-8")
    with pytest.raises(InputError, match="the file has no rows"):
        list(read_generic(header_only, GenericColumns(**COLUMNS)))


def test_generic_invalid_date_and_label_map(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("subject,text,verdict,when\nA,B,open,yesterday\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"data row 1: invalid date 'yesterday' in column 'when'"):
        list(read_generic(path, GenericColumns(**COLUMNS, created="when")))
    with pytest.raises(InputError, match="target 'maybe' must be one of"):
        parse_label_map("x=maybe")
    with pytest.raises(InputError, match="write VALUE=STATUS pairs"):
        parse_label_map("closed")
    assert parse_label_map(" spam = Closed , ok=open ") == {"spam": "closed", "ok": "open"}


# --- routing, prepare and the time split --------------------------------------------------------------


def test_source_kind_routing(real_csv, real_posts_xml, tmp_path):
    assert source_kind(real_posts_xml) == "stackexchange"
    assert source_kind(real_posts_xml.parent) == "stackexchange"
    assert source_kind(real_csv) == "kaggle"
    other = tmp_path / "q.csv"
    other.write_text("subject,text,verdict\nA,B,open\n", encoding="utf-8")
    assert source_kind(other, GenericColumns(**COLUMNS)) == "generic"
    with pytest.raises(InputError, match="--title-column, --body-column and --label-column are required") as error:
        source_kind(other)
    assert "columns found: subject, text, verdict" in str(error.value)
    compressed = tmp_path / "q.csv.bz2"
    compressed.write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="unsupported file type"):
        source_kind(compressed)
    with pytest.raises(InputError, match="folder has no Posts.xml"):
        source_kind(tmp_path)


def _assert_time_ordered(out):
    dataset = load_dataset(out)
    created = {name: [q.created for q in dataset.split(name).questions] for name in ("train", "validation", "test")}
    assert all(created.values())
    assert max(created["train"]) <= min(created["validation"])
    assert max(created["validation"]) <= min(created["test"])
    return dataset


def test_time_split_dump(real_posts_xml, tmp_path):
    out = tmp_path / "coffee"
    prepare_dataset(PrepareConfig(source=str(real_posts_xml.parent), out=str(out), split="time"))
    dataset = _assert_time_ordered(out)
    assert sum(sum(c.values()) for c in dataset.info["counts"].values()) == 225
    assert dataset.info["import"]["closed"] == 14


def test_time_split_generic_and_missing_dates(tmp_path):
    path = tmp_path / "q.jsonl"
    lines = [json.dumps({"subject": f"Q{i}", "text": "b", "verdict": "closed" if i % 3 else "open",
                         "when": f"2020-01-{30 - i:02d}T00:00:00"}) for i in range(20)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "ordered"
    prepare_dataset(PrepareConfig(source=str(path), out=str(out), split="time", columns=GenericColumns(**COLUMNS, created="when")))
    dataset = _assert_time_ordered(out)
    assert sorted(q.title for q in dataset.split("test").questions) == ["Q0", "Q1"]

    undated = tmp_path / "undated"
    with pytest.raises(InputError, match=r"20 of 20 questions have no creation date.*--created-column"):
        prepare_dataset(PrepareConfig(source=str(path), out=str(undated), split="time", columns=GenericColumns(**COLUMNS)))
    assert not undated.exists()


def test_prepare_reasons_rejects_plain_closed(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("subject,text,verdict\n" + "".join(f"T{i},B,{'closed' if i % 2 else 'open'}\n" for i in range(12)), encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(InputError, match=r"6 questions have status 'closed' without a close reason.*--labels binary"):
        prepare_dataset(PrepareConfig(source=str(path), out=str(out), labels="reasons", columns=GenericColumns(**COLUMNS)))
    assert not out.exists()


def test_cli_prepare_generic_with_label_map(tmp_path):
    path = tmp_path / "tickets.jsonl"
    path.write_text("".join(json.dumps({"s": f"Title {i}", "t": "body", "v": "spam" if i % 2 else "ok"}) + "\n" for i in range(30)), encoding="utf-8")
    out = tmp_path / "data"
    result = CliRunner().invoke(cli, ["data", "prepare", str(path), "--out", str(out), "--title-column", "s", "--body-column", "t",
                                      "--label-column", "v", "--label-map", "spam=closed,ok=open"])
    assert result.exit_code == 0, result.output
    dataset = load_dataset(out)
    assert dataset.info["prepare"]["columns"]["label_map"] == {"spam": "closed", "ok": "open"}
    assert sum(dataset.info["counts"]["train"].values()) == 24


def test_cli_prepare_dump_folder(real_posts_xml, tmp_path):
    folder = tmp_path / "dump"
    folder.mkdir()
    shutil.copy(real_posts_xml, folder / "Posts.xml")
    out = tmp_path / "coffee"
    result = CliRunner().invoke(cli, ["data", "prepare", str(folder), "--out", str(out), "--split", "time"])
    assert result.exit_code == 0, result.output
    assert "import: 225 questions in the dump, 14 closed, 225 imported" in result.output
    reasons = CliRunner().invoke(cli, ["data", "prepare", str(folder), "--out", str(tmp_path / "reasons"), "--labels", "reasons"])
    assert reasons.exit_code == 1
    assert "needs the close reasons from PostHistory.xml" in reasons.output
    assert not (tmp_path / "reasons").exists()


def test_cli_failed_prepare_leaves_nothing(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("subject,text,verdict\n" + "".join(f"T{i},B,open\n" for i in range(15)) + "X,Y,maybe\n", encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["data", "prepare", str(path), "--out", str(out), "--title-column", "subject",
                                      "--body-column", "text", "--label-column", "verdict"])
    assert result.exit_code == 1
    assert "data row 16: unknown label 'maybe'" in result.output
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [path]

    missing = CliRunner().invoke(cli, ["data", "prepare", str(path), "--out", str(out)])
    assert missing.exit_code == 1
    assert "--title-column, --body-column and --label-column are required" in missing.output
    assert not out.exists()
