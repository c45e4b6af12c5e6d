"""The classifier shipped in the package works on a fresh install, on real questions."""

import itertools

import numpy as np
import pytest

from sotriage.data.kaggle import read_kaggle_csv
from sotriage.runtime.classifier import Classifier
from sotriage.runtime.model_ref import resolve_model
from sotriage.shipped import shipped_dir

pytestmark = pytest.mark.skipif(not (shipped_dir() / "adapter" / "adapter_config.json").is_file(),
                                reason="this checkout ships no trained model yet")


@pytest.fixture(scope="module")
def real_questions(real_csv):
    # Rows from the end of the file: the shipped model was trained on a split of this file,
    # so these may include training questions; the check is that it works, not its test accuracy.
    questions = list(itertools.islice(read_kaggle_csv(real_csv), 0, 300))
    labels = np.array([0 if q.status == "open" else 1 for q in questions])
    return questions, labels


def test_shipped_model_builds_into_cache(tmp_path):
    resolved = resolve_model(None)
    assert resolved.shipped
    assert resolved.label_names == ["open", "closed"]
    assert str(resolved.files.model_dir).startswith(str(tmp_path))
    assert (resolved.files.model_dir / "model.safetensors").is_file()
    again = resolve_model(None)
    assert again.files.model_dir == resolved.files.model_dir


@pytest.mark.slow
def test_shipped_model_classifies_real_questions(real_questions):
    questions, labels = real_questions
    torch_classifier = Classifier.load(None, backend="torch", threads=2)
    probabilities = torch_classifier.predict_proba(questions)
    assert (probabilities.argmax(1) == labels).mean() > 0.7

    int8 = Classifier.load(None, backend="onnx-int8", threads=2)  # builds the ONNX files on first use
    assert int8.fusion is not None or torch_classifier.fusion is None
    agreement = (int8.predict_proba(questions).argmax(1) == probabilities.argmax(1)).mean()
    assert agreement > 0.95


@pytest.mark.slow
def test_shipped_int8_files_build_on_first_use(real_questions):
    """One cache build covers both INT8 files: the gated dynamic INT8 and the Q/DQ graph."""
    import onnx

    from sotriage.io import read_json
    from sotriage.shipped import shipped_fp32_nodes

    pytest.importorskip("openvino", reason="openvino is not installed (pip install 'sotriage[openvino]')")
    questions, _ = real_questions
    reference = Classifier.load(None, backend="torch", threads=2, fusion=False).predict_proba(questions[:100])
    resolved = resolve_model(None)
    assert not resolved.files.onnx_int8_qdq.exists()

    fast = Classifier.load(None, backend="openvino-int8", threads=2, fusion=False)  # builds every ONNX file
    assert resolved.files.onnx_int8_qdq.is_file()
    agreement = (fast.predict_proba(questions[:100]).argmax(1) == reference.argmax(1)).mean()
    assert agreement > 0.95

    # The nodes the export's accuracy gate kept in FP32 stay FP32 in the cache build too.
    expected = shipped_fp32_nodes()
    recorded = read_json(resolved.files.onnx_dir / "quantization.json")["files"]["onnx-int8"]["fp32_nodes"]
    assert recorded == list(expected)
    op_types = {node.name: node.op_type for node in onnx.load(str(resolved.files.onnx_int8)).graph.node}
    for name in expected:
        assert op_types.get(name) == "MatMul", (name, op_types.get(name))
    assert "MatMulInteger" in op_types.values()


def test_unknown_shipped_name_lists_known_ones():
    from sotriage.errors import MissingArtifactError

    with pytest.raises(MissingArtifactError, match="shipped:binary, shipped:reasons"):
        resolve_model("shipped:gpt")


def test_shipped_binary_by_name_is_the_default():
    named = resolve_model("shipped:binary")
    assert named.shipped == "binary"
    assert named.files.model_dir == resolve_model(None).files.model_dir


@pytest.mark.slow
def test_shipped_reasons_model_predicts_close_reasons(real_csv):
    from sotriage.data.schema import REASON_LABELS, label_of

    questions = list(itertools.islice(read_kaggle_csv(real_csv), 0, 200))
    labels = np.array([REASON_LABELS.index(label_of(q.status, "reasons")) for q in questions])
    classifier = Classifier.load("shipped:reasons", backend="torch", threads=2)
    assert classifier.label_names == list(REASON_LABELS)
    predicted = classifier.predict_proba(questions).argmax(1)
    assert (predicted == labels).mean() > 0.6
    assert len(set(predicted.tolist())) >= 3  # more than "open" and one reason
