"""The OpenVINO backend on the tiny run: logits against PyTorch, settings, and the missing-package error."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from sotriage.errors import SotriageError
from sotriage.export.static_quant import run_split
from sotriage.io import read_json
from sotriage.run_dir import RunDir
from sotriage.runtime.base import available_backends, create_backend
from sotriage.runtime.classifier import Classifier
from sotriage.runtime.model_ref import resolve_model

try:
    import openvino  # noqa: F401

    HAVE_OPENVINO = True
except ImportError:
    HAVE_OPENVINO = False

needs_openvino = pytest.mark.skipif(not HAVE_OPENVINO, reason="openvino is not installed (pip install 'sotriage[openvino]')")


@pytest.fixture(scope="module")
def torch_logits(tiny_run):
    """PyTorch FP32 logits of the tiny run's validation questions, and the questions."""
    questions = run_split(RunDir(tiny_run), "validation").questions
    classifier = Classifier.load(str(tiny_run), backend="torch", threads=1)
    return classifier.logits(questions), questions, classifier.encoder


def openvino_logits(tiny_run, encoder, questions, **options):
    from sotriage.runtime.openvino_backend import OpenVinoBackend, openvino_model_path

    resolved = resolve_model(str(tiny_run))
    backend = OpenVinoBackend(openvino_model_path(resolved.files, options.pop("graph", "unfused")), threads=1, **options)
    classifier = Classifier(encoder, backend, resolved.label_names)
    return classifier.logits(questions), backend


def test_openvino_is_registered():
    assert "openvino" in available_backends()


@needs_openvino
@pytest.mark.parametrize("graph", ["unfused", "fused"])
def test_openvino_f32_matches_torch(tiny_run, torch_logits, graph):
    reference, questions, encoder = torch_logits
    logits, backend = openvino_logits(tiny_run, encoder, questions, precision="f32", graph=graph)

    assert backend.precision == "f32"
    assert logits.shape == reference.shape
    assert np.abs(logits - reference).max() < 1e-4
    assert (logits.argmax(1) == reference.argmax(1)).all()


@needs_openvino
def test_openvino_bf16_close_to_torch(tiny_run, torch_logits):
    reference, questions, encoder = torch_logits
    logits, backend = openvino_logits(tiny_run, encoder, questions, precision="bf16")

    assert backend.precision == "bf16"
    # bf16 keeps 8 mantissa bits: logits move by up to about 1% of their magnitude, not more.
    assert np.abs(logits - reference).max() < 0.02 * max(1.0, float(np.abs(reference).max()))


@needs_openvino
def test_openvino_backend_by_name_honours_threads(tiny_run):
    resolved = resolve_model(str(tiny_run))
    backend = create_backend("openvino", resolved.files, threads=1)
    try:
        assert backend.threads == 1
        assert backend.precision in ("bf16", "f32")
        assert backend.path == resolved.files.onnx_unfused
    finally:
        backend.close()


@needs_openvino
def test_openvino_in_export_report(tiny_run):
    report = read_json(RunDir(tiny_run).export_report)
    entry = report["files"]["openvino"]
    assert entry["precision"] in ("bf16", "f32")
    assert entry["graph"] == "model.onnx"
    assert 0 <= entry["argmax_agreement"] <= 1


def test_openvino_rejects_unknown_precision(tiny_run):
    from sotriage.runtime.openvino_backend import OpenVinoBackend

    with pytest.raises(SotriageError, match="fp8"):
        OpenVinoBackend(RunDir(tiny_run).onnx, precision="fp8")


def test_openvino_missing_package_names_extra(tiny_run, monkeypatch):
    # A None entry in sys.modules makes `import openvino` raise ImportError.
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(SotriageError, match=r"pip install 'sotriage\[openvino\]'"):
        create_backend("openvino", resolve_model(str(tiny_run)).files, threads=1)


@needs_openvino
def test_openvino_int8_file_is_a_calibrated_qdq_graph(tiny_run):
    import onnx

    files = resolve_model(str(tiny_run)).files
    graph = onnx.load(str(files.onnx_int8_qdq))
    op_types = [node.op_type for node in graph.graph.node]
    assert op_types.count("QuantizeLinear") > 0
    assert op_types.count("DequantizeLinear") > 0
    entry = read_json(RunDir(tiny_run).onnx_dir / "quantization.json")["files"]["openvino-int8"]
    assert entry["calibration_questions"] == 64
    assert entry["calibration"] == "percentile"


@needs_openvino
def test_openvino_int8_agrees_with_torch(tiny_run, torch_logits):
    reference, questions, encoder = torch_logits
    resolved = resolve_model(str(tiny_run))
    backend = create_backend("openvino-int8", resolved.files, threads=1)
    logits = Classifier(encoder, backend, resolved.label_names).logits(questions)
    backend.close()
    assert logits.shape == reference.shape
    # INT8 rounding moves the logits a little; the tiny model's logits spread over about 0.5.
    assert np.abs(logits - reference).max() < 0.1
    report = read_json(RunDir(tiny_run).export_report)["files"]["openvino-int8"]
    assert report["argmax_agreement"] >= 0.9


def test_openvino_int8_missing_file_names_the_export_flag(tiny_run, tmp_path):
    from sotriage.errors import MissingArtifactError
    from sotriage.runtime.base import ModelFiles

    files = ModelFiles(resolve_model(str(tiny_run)).files.model_dir, tmp_path / "onnx")
    with pytest.raises((MissingArtifactError, SotriageError), match="--openvino-int8"):
        create_backend("openvino-int8", files, threads=1)


def test_export_openvino_int8_without_openvino_names_extra(monkeypatch):
    from sotriage.export.pipeline import ExportConfig

    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(SotriageError, match=r"pip install 'sotriage\[openvino\]'"):
        ExportConfig(openvino_int8=True)
