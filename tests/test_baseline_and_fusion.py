import dataclasses

import numpy as np
import pytest
from click.testing import CliRunner

from sotriage.baseline import BaselineConfig, metadata_matrix, run_baseline
from sotriage.cli.main import cli
from sotriage.data.dataset import load_dataset
from sotriage.errors import InputError
from sotriage.fusion import FusionHead, LinearHead, fit_fusion, has_metadata
from sotriage.fusion_fit import fit_run_fusion
from sotriage.runtime.classifier import Classifier, softmax


def test_baseline_reports_test_metrics(small_dataset):
    result = run_baseline(BaselineConfig(data_dir=str(small_dataset), features="text+meta", max_features=2000, c_grid=(1.0,)))
    assert result["n"] == len(load_dataset(small_dataset).split("test"))
    assert 0.0 <= result["accuracy"] <= 1.0
    assert result["chosen_c"] == 1.0
    assert result["variant"] == "tfidf-logreg (text+meta)"


def test_baseline_cli_rejects_bad_feature_set(small_dataset):
    result = CliRunner().invoke(cli, ["baseline", str(small_dataset), "--features", "meta"])
    assert result.exit_code == 2
    assert "'meta' is not one of" in result.output
    with pytest.raises(InputError, match="invalid --max-features 0"):
        BaselineConfig(data_dir="x", max_features=0)


def test_metadata_matrix_handles_missing_values(small_dataset):
    questions = load_dataset(small_dataset).split("train").questions[:3]
    questions[0] = dataclasses.replace(questions[0], reputation=None, account_age_days=None)
    matrix = metadata_matrix(questions)
    assert matrix.shape == (3, 4)
    assert matrix[0, 0] == 0.0
    assert np.isfinite(matrix).all()


def test_linear_head_roundtrip_and_learns():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(400, 3))
    labels = (features[:, 0] + 0.1 * rng.normal(size=400) > 0).astype(int)
    head = LinearHead.fit(features, labels)
    accuracy = (head.probabilities(features).argmax(1) == labels).mean()
    assert accuracy > 0.9
    again = LinearHead.from_dict(head.to_dict())
    np.testing.assert_allclose(again.probabilities(features), head.probabilities(features))


def test_fusion_head_uses_metadata_only_when_present(small_dataset):
    validation = load_dataset(small_dataset).split("train")  # enough questions to fit both heads
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(len(validation), 2))
    head = fit_fusion(None, validation.questions, logits, validation.labels, {"test": True})
    assert all(has_metadata(q) for q in validation.questions[:5])
    stripped = [dataclasses.replace(q, reputation=None) for q in validation.questions[:5]]
    np.testing.assert_allclose(head.probabilities(stripped, logits[:5]), head.text_only.probabilities(logits[:5]))
    assert not np.allclose(head.probabilities(validation.questions[:5], logits[:5]), head.text_only.probabilities(logits[:5]))


@pytest.mark.slow
def test_fuse_command_saves_a_head_the_classifier_uses(tiny_run):
    report = fit_run_fusion(str(tiny_run), backend="onnx", max_features=500, threads=1)
    for variant in ("encoder_only", "fused", "fused_without_metadata"):
        assert 0.0 <= report["test"][variant]["accuracy"] <= 1.0
    assert (tiny_run / "model" / "fusion" / "heads.json").is_file()
    assert FusionHead.load(tiny_run / "model") is not None

    classifier = Classifier.load(str(tiny_run), backend="onnx", threads=1)
    plain = Classifier.load(str(tiny_run), backend="onnx", threads=1, fusion=False)
    assert classifier.fusion is not None
    assert plain.fusion is None
    questions = load_dataset(report_data(tiny_run)).split("test").questions[:6]
    logits = plain.logits(questions)
    np.testing.assert_allclose(plain.predict_proba(questions), softmax(logits), atol=1e-6)
    assert not np.allclose(classifier.predict_proba(questions), softmax(logits), atol=1e-4)
    # Later tests share this run folder: remove the head so they see the plain model.
    import shutil

    shutil.rmtree(tiny_run / "model" / "fusion")


def report_data(run):
    from sotriage.io import read_json

    return read_json(run / "split.json")["data_dir"]
