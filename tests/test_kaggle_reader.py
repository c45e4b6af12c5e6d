import gzip
import itertools

import pytest
from click.testing import CliRunner

from sotriage.cli.main import cli
from sotriage.data.dataset import load_dataset
from sotriage.data.kaggle import REQUIRED_COLUMNS, read_kaggle_csv
from sotriage.errors import InputError

HEADER = "PostId,PostCreationDate,OwnerUserId,OwnerCreationDate,ReputationAtPostCreation,OwnerUndeletedAnswerCountAtPostTime,Title,BodyMarkdown,Tag1,Tag2,Tag3,Tag4,Tag5,PostClosedDate,OpenStatus"


def write_csv(path, rows):
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_reads_real_questions(real_csv):
    questions = list(itertools.islice(read_kaggle_csv(real_csv), 200))
    assert len(questions) == 200
    assert all(q.title for q in questions)
    assert {q.status for q in questions} <= {"open", "not a real question", "off topic", "not constructive", "too localized"}
    assert any("[code]" in q.body for q in questions)
    assert all(q.reputation is not None for q in questions)
    assert all(q.account_age_days is None or q.account_age_days >= 0 for q in questions)


def test_multiline_body_and_metadata(tmp_path):
    path = write_csv(tmp_path / "q.csv", [
        '1,08/01/2008 00:42:38,7,07/31/2008 21:42:52,16,1,"A title","Line one\n\n    code()\n\nline two",python,,,,,,open',
    ])
    (question,) = list(read_kaggle_csv(path))
    assert question.body == "Line one\n\n[code]\ncode()\n[/code]\nline two"
    assert question.tags == ["python"]
    assert question.reputation == 16.0
    assert question.account_age_days == pytest.approx(0.125, abs=1e-3)
    assert question.created == "2008-08-01T00:42:38"


def test_unknown_label_names_row_and_fix(tmp_path):
    path = write_csv(tmp_path / "q.csv", [
        "1,08/01/2008 00:42:38,7,07/31/2008 21:42:52,16,1,T,B,python,,,,,,open",
        "2,08/01/2008 00:42:38,7,07/31/2008 21:42:52,16,1,T,B,python,,,,,,spam",
    ])
    with pytest.raises(InputError, match=r"data row 2 \(PostId 2\): unknown OpenStatus 'spam'.*Expected one of"):
        list(read_kaggle_csv(path))


def test_missing_column_lists_what_was_found(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("PostId,Title\n1,x\n", encoding="utf-8")
    with pytest.raises(InputError) as error:
        list(read_kaggle_csv(path))
    message = str(error.value)
    assert "missing column(s)" in message
    assert "OpenStatus" in message
    assert "Found: PostId, Title" in message


def test_empty_and_header_only_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="empty"):
        list(read_kaggle_csv(empty))
    header_only = write_csv(tmp_path / "header.csv", [])
    with pytest.raises(InputError, match="no rows"):
        list(read_kaggle_csv(header_only))


def test_gzip_csv(tmp_path):
    plain = write_csv(tmp_path / "q.csv", ["1,08/01/2008 00:42:38,7,07/31/2008 21:42:52,16,1,T,B,c,,,,,,off topic"])
    packed = tmp_path / "q.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert [q.status for q in read_kaggle_csv(packed)] == ["off topic"]


def test_prepare_cli_writes_splits(real_csv, tmp_path):
    out = tmp_path / "data"
    result = CliRunner().invoke(cli, ["data", "prepare", str(real_csv), "--out", str(out), "--max-rows", "300", "--labels", "reasons"])
    assert result.exit_code == 0, result.output
    dataset = load_dataset(out)
    assert dataset.label_names == ["open", "not a real question", "off topic", "not constructive", "too localized"]
    sizes = {name: len(dataset.split(name)) for name in ("train", "validation", "test")}
    assert sum(sizes.values()) == 300
    assert sizes["train"] == pytest.approx(240, abs=3)


def test_prepare_failure_leaves_nothing(tmp_path):
    bad = write_csv(tmp_path / "q.csv", ["1,08/01/2008 00:42:38,7,07/31/2008 21:42:52,16,1,T,B,c,,,,,,maybe"] * 20)
    out = tmp_path / "data"
    result = CliRunner().invoke(cli, ["data", "prepare", str(bad), "--out", str(out)])
    assert result.exit_code == 1
    assert "unknown OpenStatus 'maybe'" in result.output
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [bad]


def test_required_columns_match_kaggle_header():
    assert set(REQUIRED_COLUMNS) <= set(HEADER.split(","))
