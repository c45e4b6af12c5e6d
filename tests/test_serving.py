"""Serving: the wire protocol, the fleet model repository, and Triton through PyTriton.

Tests marked `triton` start the tritonserver binary shipped in nvidia-pytriton on free loopback
ports; they are skipped only when nvidia-pytriton is not importable.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import types
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sotriage.data.schema import Question
from sotriage.data.text import clean_markdown
from sotriage.errors import InputError
from sotriage.serving.protocol import RequestError, questions_from_inputs, request_id_from, text_column

HAS_PYTRITON = importlib.util.find_spec("pytriton") is not None
HAS_TRITONCLIENT = importlib.util.find_spec("tritonclient") is not None
needs_tritonclient = pytest.mark.skipif(not HAS_TRITONCLIENT, reason="tritonclient is not installed (pip install 'sotriage[serve]')")

LONG_BODY = "\n\n".join(f"Paragraph {i}: my **code** fails with `error {i}` when I call the list sort." for i in range(40))
RAW_QUESTIONS = [
    ("How do I parse JSON in Python?", "I tried `json.loads` and got:\n\n    ValueError: Expecting value\n\nWhat is wrong?", "python json"),
    ("Best IDE for Java?", "Which one is *best*? Please list [your favourites](http://example.com).", "java,ide"),
    ("Why is my list empty", LONG_BODY, "python list"),
    ("Ünïcode title ✓", "Body with emoji 🙂 and <b>html</b> &amp; entities.", ""),
]


def _inputs(rows: list[tuple[str, str, str]]) -> dict[str, np.ndarray]:
    return {name: text_column([row[i] for row in rows]) for i, name in enumerate(("title", "body", "tags"))}


def _expected_questions(rows) -> list[Question]:
    return [Question(id=str(i), title=t, body=clean_markdown(b), tags=g.replace(",", " ").split()) for i, (t, b, g) in enumerate(rows)]


# --- protocol ----------------------------------------------------------------------------

def test_protocol_builds_cleaned_questions():
    questions = questions_from_inputs(_inputs(RAW_QUESTIONS))
    assert [q.title for q in questions] == [row[0] for row in RAW_QUESTIONS]
    assert questions[0].body == clean_markdown(RAW_QUESTIONS[0][1])
    assert questions[1].tags == ["java", "ide"]
    assert questions[3].tags == []


@pytest.mark.parametrize("inputs, message", [
    ({"title": text_column(["a"]), "body": text_column(["b"])}, "missing input(s) tags"),
    ({"title": np.zeros((0, 1), dtype=object), "body": np.zeros((0, 1), dtype=object), "tags": np.zeros((0, 1), dtype=object)}, "empty batch"),
    ({"title": np.array([[b"ok"]], dtype=object), "body": np.array([[b"\xff\xfeboom"]], dtype=object), "tags": text_column([""])}, "not valid UTF-8"),
    ({"title": text_column(["a"]), "body": text_column(["x" * 101]), "tags": text_column([""])}, "over the server's limit of 100 bytes"),
    ({"title": text_column(["a", "b"]), "body": text_column(["b"]), "tags": text_column(["", ""])}, "input 'body' has shape [1, 1]"),
    ({"title": text_column([" "]), "body": text_column([""]), "tags": text_column([""])}, "title and body are both empty"),
    ({**_inputs([("t", "b", "")]), "reputation": np.array([[np.inf]], dtype=np.float32)}, "input 'reputation' row 0 is inf"),
])
def test_protocol_rejects_bad_request(inputs, message):
    with pytest.raises(RequestError) as error:
        questions_from_inputs(inputs, max_body_bytes=100)
    assert message in str(error.value)


def test_protocol_accepts_negative_reputation():
    # 49 of the 45,266 real Kaggle questions have a reputation below 0 at post time.
    inputs = {**_inputs([("t", "b", "")]), "reputation": np.array([[-3.0]], dtype=np.float32)}
    assert questions_from_inputs(inputs)[0].reputation == -3.0


def test_protocol_metadata_nan_means_unknown():
    inputs = {**_inputs([("t", "b", ""), ("u", "c", "")]), "reputation": np.array([[np.nan], [12.0]], dtype=np.float32)}
    questions = questions_from_inputs(inputs)
    assert questions[0].reputation is None
    assert questions[1].reputation == 12.0


def test_request_id_from_parameters():
    assert request_id_from({"request_id": "abc"}) == "abc"
    assert request_id_from({"X-Request-ID": "hdr-1"}) == "hdr-1"
    assert request_id_from({}).startswith("server-")


def test_serve_config_rejects_bad_values():
    from sotriage.serving.server import ServeConfig

    with pytest.raises(InputError, match="ports must differ"):
        ServeConfig(http_port=9000, grpc_port=9000)
    with pytest.raises(InputError, match="max_batch_size"):
        ServeConfig(max_batch_size=0)
    with pytest.raises(InputError, match="invalid model name"):
        ServeConfig(model_name="bad name")


def test_stub_library_path_puts_libpython_first():
    import sysconfig

    from sotriage.serving.stub_env import library_path_with_libpython

    libdir = sysconfig.get_config_var("LIBDIR")
    path = library_path_with_libpython(f"/opt/other:{libdir}")
    assert path.split(os.pathsep) == [libdir, "/opt/other"]


# --- fleet repository ---------------------------------------------------------------------

def _parse_configs(repo: Path) -> dict:
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    configs = {}
    for path in sorted(repo.glob("*/config.pbtxt")):
        configs[path.parent.name] = text_format.Parse(path.read_text(encoding="utf-8"), model_config_pb2.ModelConfig())
    return configs


@pytest.fixture(scope="module")
def triton_repo(tiny_run, tmp_path_factory):
    from sotriage.runtime.model_ref import resolve_model
    from sotriage.serving.triton_repo import TritonRepoConfig, write_triton_repo

    out = tmp_path_factory.mktemp("triton") / "models"
    return write_triton_repo(resolve_model(tiny_run), out, TritonRepoConfig(instances=2, max_batch_size=16))


@needs_tritonclient
def test_triton_repo_configs_match_onnx(triton_repo, tiny_run):
    import onnx
    from tritonclient.grpc import model_config_pb2 as pb

    configs = _parse_configs(triton_repo)
    assert set(configs) == {"sotriage", "sotriage_tokenizer", "sotriage_onnx", "sotriage_postprocess"}
    onnx_config = configs["sotriage_onnx"]
    assert onnx_config.platform == "onnxruntime_onnx"
    assert onnx_config.max_batch_size == 16
    assert onnx_config.HasField("dynamic_batching")
    assert [(g.kind, g.count) for g in onnx_config.instance_group] == [(pb.ModelInstanceGroup.KIND_CPU, 2)]

    # The config must describe the ONNX graph exactly, minus the batch dimension.
    graph = onnx.load(str(triton_repo / "sotriage_onnx" / "1" / "model.onnx"), load_external_data=False).graph
    onnx_type = {onnx.TensorProto.INT64: pb.TYPE_INT64, onnx.TensorProto.FLOAT: pb.TYPE_FP32}
    for config_tensors, graph_tensors in ((onnx_config.input, graph.input), (onnx_config.output, graph.output)):
        by_name = {t.name: t for t in graph_tensors}
        assert {t.name for t in config_tensors} == set(by_name)
        for tensor in config_tensors:
            dims = by_name[tensor.name].type.tensor_type.shape.dim
            assert dims[0].dim_param, f"{tensor.name}: the ONNX batch dimension should be dynamic"
            expected = [d.dim_value if d.dim_value > 0 else -1 for d in dims[1:]]
            assert list(tensor.dims) == expected, tensor.name
            assert tensor.data_type == onnx_type[by_name[tensor.name].type.tensor_type.elem_type], tensor.name

    # Every model batches, and the tokenizer produces exactly what the ONNX model takes.
    for name, config in configs.items():
        assert config.max_batch_size == 16, name
        if name != "sotriage":
            assert config.HasField("dynamic_batching"), name
    tokenizer_outputs = {t.name: (t.data_type, list(t.dims)) for t in configs["sotriage_tokenizer"].output}
    assert tokenizer_outputs == {t.name: (t.data_type, list(t.dims)) for t in onnx_config.input}


@needs_tritonclient
def test_triton_ensemble_wiring_is_complete(triton_repo):
    configs = _parse_configs(triton_repo)
    ensemble = configs["sotriage"]
    assert ensemble.platform == "ensemble"
    assert (triton_repo / "sotriage" / "1").is_dir()
    available = {t.name for t in ensemble.input}
    for step in ensemble.ensemble_scheduling.step:
        model = configs[step.model_name]
        assert set(step.input_map) == {t.name for t in model.input}, step.model_name
        assert set(step.input_map.values()) <= available, f"{step.model_name} reads a tensor no earlier step produced"
        assert set(step.output_map) <= {t.name for t in model.output}, step.model_name
        available |= set(step.output_map.values())
    assert {t.name for t in ensemble.output} <= available
    postprocess = configs["sotriage_postprocess"]
    assert json.loads(postprocess.parameters["label_names"].string_value) == ["open", "closed"]


@needs_tritonclient
def test_triton_repo_write_is_atomic(triton_repo, tiny_run, tmp_path, monkeypatch):
    import shutil

    from sotriage.runtime.model_ref import resolve_model
    from sotriage.serving import triton_repo as module

    out = tmp_path / "models"
    shutil.copytree(triton_repo, out)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))

    def fail_copy(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(module.shutil, "copy2", fail_copy)
    with pytest.raises(OSError, match="disk full"):
        module.write_triton_repo(resolve_model(tiny_run), out)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir()] == ["models"], "a temporary folder was left behind"


def test_triton_repo_config_rejects_int8_on_gpu():
    from sotriage.serving.triton_repo import TritonRepoConfig

    with pytest.raises(InputError, match="--triton-precision fp32"):
        TritonRepoConfig(kind="gpu", precision="int8")


# --- the Python-backend models, run in-process with a stand-in for Triton's utils module ---

class _FakeTensor:
    def __init__(self, name, array):
        self._name, self._array = name, np.asarray(array)

    def name(self):
        return self._name

    def as_numpy(self):
        return self._array


class _FakeRequest:
    def __init__(self, inputs: dict, request_id: str = ""):
        self.inputs, self._id = inputs, request_id

    def request_id(self):
        return self._id


class _FakeResponse:
    def __init__(self, output_tensors, error=None):
        self.outputs = {t.name(): t.as_numpy() for t in output_tensors}
        self.error = error


class _FakeError(Exception):
    def message(self):
        return str(self)


def _fake_pb_utils(warnings: list) -> types.ModuleType:
    module = types.ModuleType("triton_python_backend_utils")
    module.Tensor = _FakeTensor
    module.InferenceResponse = _FakeResponse
    module.TritonError = _FakeError
    module.get_input_tensor_by_name = lambda request, name: (
        _FakeTensor(name, request.inputs[name]) if name in request.inputs else None)
    module.Logger = types.SimpleNamespace(log_warn=warnings.append, log_info=lambda _m: None, log_error=warnings.append)
    return module


def _load_repo_model(triton_repo: Path, model: str, monkeypatch, warnings: list):
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", _fake_pb_utils(warnings))
    version = triton_repo / model / "1"
    monkeypatch.syspath_prepend(str(version))
    monkeypatch.delitem(sys.modules, "sotriage_text", raising=False)
    spec = importlib.util.spec_from_file_location(f"repo_{model}_model", version / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    instance = module.TritonPythonModel()
    config = (triton_repo / model / "config.pbtxt").read_text(encoding="utf-8")
    from google.protobuf import json_format, text_format
    from tritonclient.grpc import model_config_pb2

    config_json = json_format.MessageToJson(text_format.Parse(config, model_config_pb2.ModelConfig()), preserving_proto_field_name=True)
    instance.initialize({"model_config": config_json, "model_repository": str(triton_repo / model), "model_version": "1"})
    return module, instance


@needs_tritonclient
def test_tokenizer_model_matches_question_encoder(triton_repo, tiny_run, monkeypatch):
    from sotriage.encoding import EncodingConfig, QuestionEncoder
    from sotriage.modeling import load_tokenizer, read_sotriage_config

    warnings: list = []
    module, model = _load_repo_model(triton_repo, "sotriage_tokenizer", monkeypatch, warnings)
    assert module.clean_markdown.__module__ == "sotriage_text", "model.py should use the copy in the repository"

    from sotriage.demo_data import sample_questions

    sample = [(q.title, q.body, " ".join(q.tags)) for q in sample_questions().questions[:24]]
    rows = RAW_QUESTIONS + sample
    requests = [_FakeRequest(_inputs(rows[:3]), "r1"), _FakeRequest(_inputs(rows[3:]), "r2")]
    responses = model.execute(requests)
    assert [r.error for r in responses] == [None, None]

    settings = read_sotriage_config(Path(tiny_run) / "model")
    encoder = QuestionEncoder(load_tokenizer(str(Path(tiny_run) / "model")), EncodingConfig(**settings["encoding"]))
    expected = encoder.encode(_expected_questions(rows))
    assert max(len(e) for e in expected) == encoder.config.max_length, "no question was long enough to test truncation"
    got = []
    for response in responses:
        for ids, mask, types_ in zip(response.outputs["input_ids"], response.outputs["attention_mask"], response.outputs["token_type_ids"]):
            length = int(mask.sum())
            assert not ids[length:].any(), "padding must use the pad id"
            got.append((ids[:length].tolist(), types_[:length].tolist()))
    assert [ids for ids, _ in got] == [e.input_ids for e in expected]
    assert [types_ for _, types_ in got] == [e.token_type_ids for e in expected]
    for response in responses:
        assert response.outputs["input_ids"].dtype == np.int64
        assert response.outputs["input_ids"].shape[1] % 64 == 0 or response.outputs["input_ids"].shape[1] == encoder.config.max_length


@needs_tritonclient
def test_tokenizer_model_rejects_only_bad_request(triton_repo, monkeypatch):
    warnings: list = []
    _module, model = _load_repo_model(triton_repo, "sotriage_tokenizer", monkeypatch, warnings)
    good = _FakeRequest(_inputs(RAW_QUESTIONS[:1]), "good-1")
    bad_utf8 = _FakeRequest({**_inputs(RAW_QUESTIONS[:1]), "body": np.array([[b"\xc3\x28"]], dtype=object)}, "bad-utf8")
    missing = _FakeRequest({"title": text_column(["t"])}, "bad-missing")
    responses = model.execute([good, bad_utf8, missing])
    assert responses[0].error is None
    assert responses[0].outputs["input_ids"].shape[0] == 1
    assert "not valid UTF-8" in str(responses[1].error)
    assert "missing input 'body'" in str(responses[2].error)
    assert any("bad-utf8" in w for w in warnings) and any("bad-missing" in w for w in warnings)


@needs_tritonclient
def test_postprocess_model_softmax_and_labels(triton_repo, monkeypatch):
    _module, model = _load_repo_model(triton_repo, "sotriage_postprocess", monkeypatch, [])
    logits = np.array([[2.0, 0.0], [-1.0, 3.0]], dtype=np.float32)
    (response,) = model.execute([_FakeRequest({"logits": logits})])
    from sotriage.runtime.classifier import softmax

    np.testing.assert_allclose(response.outputs["probabilities"], softmax(logits), atol=1e-6)
    assert response.outputs["label"].reshape(-1).tolist() == [b"open", b"closed"]
    assert response.outputs["label_names"].tolist() == [[b"open", b"closed"]] * 2


@needs_tritonclient
def test_export_cli_writes_triton_repo(tiny_run, tmp_path):
    from sotriage.cli.main import cli

    out = tmp_path / "repo"
    result = CliRunner().invoke(cli, ["export", str(tiny_run), "--triton-repo", str(out), "--triton-precision", "fp32",
                                      "--triton-instances", "3"])
    assert result.exit_code == 0, result.output
    assert "reusing" in result.output
    configs = _parse_configs(out)
    assert configs["sotriage_onnx"].instance_group[0].count == 3
    assert (out / "sotriage_onnx" / "1" / "model.onnx").stat().st_size == (Path(tiny_run) / "onnx" / "model-fused.onnx").stat().st_size

    bad = CliRunner().invoke(cli, ["export", str(tiny_run), "--triton-repo", str(tmp_path / "gpu"), "--triton-kind", "gpu"])
    assert bad.exit_code != 0
    assert "--triton-precision fp32" in bad.output
    assert not (tmp_path / "gpu").exists()


# --- Triton through PyTriton ----------------------------------------------------------------

def _free_ports(count: int) -> list[int]:
    sockets, ports = [], []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in sockets:
        sock.close()
    return ports


def _descendants() -> set[int]:
    """Child processes of this test process, except multiprocessing's resource tracker.

    PyTriton's shared memory starts that tracker, which by design lives until its parent exits.
    """
    import psutil

    pids = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() == psutil.STATUS_ZOMBIE or "multiprocessing.resource_tracker" in " ".join(child.cmdline()):
                continue
        except psutil.NoSuchProcess:
            continue
        pids.add(child.pid)
    return pids


@pytest.fixture(scope="module")
def stub_env(tmp_path_factory):
    """One NumPy-1 stub environment per test session when this environment has NumPy 2 (see stub_env.py)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOTRIAGE_TRITON_STUB_ENV", str(tmp_path_factory.getbasetemp() / "triton-stub-env"))
        yield


@pytest.fixture(scope="module")
def served(tiny_run, stub_env):
    """PyTriton serving tiny_run with the ONNX FP32 backend on free loopback ports."""
    from sotriage.runtime.classifier import Classifier
    from sotriage.serving.server import ServeConfig, running_server

    http_port, grpc_port, metrics_port = _free_ports(3)
    config = ServeConfig(model=str(tiny_run), backend="onnx", threads=1, http_port=http_port, grpc_port=grpc_port,
                         metrics_port=metrics_port, max_batch_size=16, max_queue_delay_us=1000, max_body_bytes=4096)
    before = _descendants()
    with running_server(config) as (_triton, handler):
        reference = Classifier.load(str(tiny_run), backend="onnx", threads=1)
        yield types.SimpleNamespace(config=config, handler=handler, reference=reference)
        reference.close()
    deadline = time.monotonic() + 30
    while _descendants() - before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _descendants() - before, "the server left child processes behind"


def _client(served, protocol: str):
    from sotriage.serving.client import ClientConfig, TritonClassifierClient

    port = served.config.http_port if protocol == "http" else served.config.grpc_port
    return TritonClassifierClient(ClientConfig(url=f"127.0.0.1:{port}", protocol=protocol))


@pytest.mark.triton
@pytest.mark.skipif(not HAS_PYTRITON, reason="nvidia-pytriton is not installed")
@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_served_predictions_equal_in_process(served, protocol):
    raw = [Question(id=str(i), title=t, body=b, tags=g.replace(",", " ").split()) for i, (t, b, g) in enumerate(RAW_QUESTIONS)]
    with _client(served, protocol) as client:
        outputs = client.infer_raw(raw, request_id=f"parity-{protocol}")
        predictions = client.predict(raw[:1])
    expected = served.reference.predict_proba(_expected_questions(RAW_QUESTIONS))
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)
    labels = [label.decode() for label in outputs["label"].reshape(-1)]
    assert labels == [served.reference.label_names[i] for i in expected.argmax(axis=1)]
    assert outputs["label_names"][0].tolist() == [b"open", b"closed"]
    assert predictions[0].probabilities["closed"] == pytest.approx(float(expected[0, 1]), abs=1e-5)


def _raw_http_infer(served, inputs: list[dict], request_id: str) -> tuple[int, str]:
    """POST a KServe v2 JSON request and return (HTTP status, body)."""
    body = json.dumps({"id": request_id, "parameters": {"request_id": request_id}, "inputs": inputs}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{served.config.http_port}/v2/models/sotriage/infer", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _text_input(name: str, values: list[str]) -> dict:
    return {"name": name, "shape": [len(values), 1], "datatype": "BYTES", "data": values}


@pytest.mark.triton
@pytest.mark.skipif(not HAS_PYTRITON, reason="nvidia-pytriton is not installed")
@pytest.mark.parametrize("case, inputs, message, reaches_handler", [
    ("missing", [_text_input("title", ["t"]), _text_input("tags", [""])], "missing input(s) body", True),
    ("datatype", [{"name": "title", "shape": [1, 1], "datatype": "FP32", "data": [1.0]}, _text_input("body", ["b"]),
                  _text_input("tags", [""])], "expects 'BYTES'", False),
    ("too-long", [_text_input("title", ["t"]), _text_input("body", ["x" * 5000]), _text_input("tags", [""])],
     "over the server's limit of 4096 bytes", True),
    ("empty", [_text_input("title", []), _text_input("body", []), _text_input("tags", [])], "got 0", None),
])
def test_served_bad_request_gets_clear_error(served, case, inputs, message, reaches_handler):
    bad_before = served.handler.bad_requests
    status, body = _raw_http_infer(served, inputs, f"bad-{case}")
    assert status >= 400, body
    assert message in body
    if reaches_handler is not None:
        assert served.handler.bad_requests == bad_before + (1 if reaches_handler else 0)
    status, body = _raw_http_infer(served, [_text_input("title", ["still serving?"]), _text_input("body", ["yes"]),
                                            _text_input("tags", ["python"])], f"after-{case}")
    assert status == 200, body


@pytest.mark.triton
@pytest.mark.skipif(not HAS_PYTRITON, reason="nvidia-pytriton is not installed")
def test_served_rejects_invalid_utf8_over_grpc(served, caplog):
    from sotriage.serving.client import ServerError

    with _client(served, "grpc") as client:
        client.input_names()
        inputs = client.build_inputs([Question(id="1", title="t", body="b")])
        inputs[1].set_data_from_numpy(np.array([[b"\xff\xfe"]], dtype=np.object_))
        with pytest.raises(Exception) as error:
            client._client.infer("sotriage", inputs, parameters={"request_id": "bad-utf8-grpc"})
        assert "not valid UTF-8" in str(error.value)
        with caplog.at_level("WARNING", logger="sotriage.serving"):
            with pytest.raises(ServerError, match="over the server's limit"):
                client.predict([Question(id="2", title="t", body="y" * 5000)], request_id="bad-long-grpc")
        assert any("bad-long-grpc" in record.getMessage() for record in caplog.records)
        assert client.predict([Question(id="3", title="fine", body="ok")])[0].label in ("open", "closed")


@pytest.mark.triton
@pytest.mark.skipif(not HAS_PYTRITON, reason="nvidia-pytriton is not installed")
def test_served_health_and_metrics(served):
    base = f"http://127.0.0.1:{served.config.http_port}"
    with urllib.request.urlopen(f"{base}/v2/health/ready", timeout=10) as response:
        assert response.status == 200
    from sotriage.serving.loadtest import model_counters, read_metrics

    metrics = read_metrics(f"http://127.0.0.1:{served.config.metrics_port}/metrics")
    assert model_counters(metrics, "sotriage")["nv_inference_request_success"] >= 1


def _run_predict(*args: str) -> dict:
    """Run `sotriage predict` in its own process and return its JSON line.

    A subprocess, not CliRunner, because the in-process server prints Triton's log lines to this
    process's stdout at any moment, which would mix into CliRunner's captured output.
    """
    command = [str(Path(sys.executable).parent / "sotriage"), "predict", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.triton
@pytest.mark.skipif(not HAS_PYTRITON, reason="nvidia-pytriton is not installed")
@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_predict_cli_url_matches_local(served, tiny_run, protocol):
    port = served.config.http_port if protocol == "http" else served.config.grpc_port
    title, body, tags = RAW_QUESTIONS[0]
    remote_record = _run_predict("--url", f"127.0.0.1:{port}", "--protocol", protocol, "--title", title, "--body", body, "--tags", tags)
    local_record = _run_predict(str(tiny_run), "--backend", "onnx", "--threads", "1", "--title", title, "--body", body, "--tags", tags)
    assert remote_record["label"] == local_record["label"]
    for name, value in local_record["probabilities"].items():
        assert remote_record["probabilities"][name] == pytest.approx(value, abs=1e-5)


@pytest.mark.triton
@pytest.mark.skipif(not HAS_PYTRITON, reason="nvidia-pytriton is not installed")
def test_loadtest_is_bounded_and_reports(served, tmp_path):
    from sotriage.cli.main import cli

    out = tmp_path / "loadtest.json"
    result = CliRunner().invoke(cli, [
        "loadtest", "--url", f"127.0.0.1:{served.config.http_port}", "--concurrency", "4", "--duration", "20",
        "--warmup", "0", "--max-requests", "24", "--server-pid", str(os.getpid()),
        "--metrics-url", f"http://127.0.0.1:{served.config.metrics_port}/metrics", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["requests"] == 24
    assert report["errors"] == 0
    assert report["elapsed_s"] < 20
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p99"]
    assert report["memory"]["cold_bytes"] > 0
    assert report["memory"]["before_bytes"] > 0
    assert report["server_metrics"]["nv_inference_request_success"] == 24


def _ignore_sigint() -> None:
    # What a non-interactive shell does for a background job (`sotriage serve &`).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.triton
@pytest.mark.skipif(not HAS_PYTRITON, reason="nvidia-pytriton is not installed")
@pytest.mark.parametrize("stop_signal, preexec", [(signal.SIGTERM, None), (signal.SIGINT, _ignore_sigint)],
                         ids=["sigterm", "sigint-in-background-job"])
def test_serve_cli_starts_and_stops_cleanly(tiny_run, stub_env, tmp_path, stop_signal, preexec):
    import psutil

    http_port, grpc_port, metrics_port = _free_ports(3)
    log_path = tmp_path / "serve.log"
    command = [str(Path(sys.executable).parent / "sotriage"), "serve", str(tiny_run), "--backend", "onnx", "--threads", "1",
               "--port", str(http_port), "--grpc-port", str(grpc_port), "--metrics-port", str(metrics_port)]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ}, preexec_fn=preexec)
    try:
        deadline = time.monotonic() + 120
        ready = False
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/v2/models/sotriage/ready", timeout=2) as response:
                    ready = response.status == 200
            except OSError:
                pass
            if ready:
                break
            time.sleep(1)
        assert ready, log_path.read_text()[-3000:]
        children = [child.pid for child in psutil.Process(process.pid).children(recursive=True)]
        assert children, "tritonserver should run as a child of sotriage serve"
        process.send_signal(stop_signal)
        assert process.wait(timeout=60) == 0, log_path.read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
    assert not [pid for pid in children if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    text = log_path.read_text()
    assert "server started" in text
    assert "server stopped" in text


# --- the fleet repository in the tritonserver binary that nvidia-pytriton ships -------------

# PyTriton's bundle has only the Python backend, so the test replaces the ONNX Runtime backend with
# a Python model that runs the same model.onnx through onnxruntime, under the same name and
# tensor signature. Everything else (tokenizer model, postprocess model, ensemble, batching,
# config parsing) runs in the real tritonserver.
ONNX_STAND_IN = '''
import json
from pathlib import Path

import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        path = Path(args["model_repository"]) / args["model_version"] / "model.onnx"
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def execute(self, requests):
        responses = []
        for request in requests:
            feed = {i.name: pb_utils.get_input_tensor_by_name(request, i.name).as_numpy() for i in self.session.get_inputs()}
            logits = self.session.run(["logits"], feed)[0]
            responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("logits", logits)]))
        return responses
'''


def _bundled_tritonserver(repo: Path, workdir: Path, ports: list[int]) -> subprocess.Popen:
    """Start nvidia-pytriton's tritonserver binary on `repo`, the way PyTriton prepares it."""
    import shutil
    import sysconfig

    from sotriage.serving import stub_env

    dist = Path(importlib.util.find_spec("pytriton").origin).parent / "tritonserver"
    server = workdir / "tritonserver"
    shutil.copytree(dist, server, ignore=shutil.ignore_patterns("python_backend_stubs"))
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    shutil.copy2(dist / "python_backend_stubs" / version / "triton_python_backend_stub", server / "backends" / "python")
    libs = Path(importlib.util.find_spec("pytriton").origin).parents[1] / "nvidia_pytriton.libs"
    python_env = stub_env.prepare_stub_env(stub_env.default_stub_env_path()) if stub_env.numpy_major() >= 2 else Path(sys.exec_prefix)
    env = {**os.environ, "PATH": f"{python_env / 'bin'}:{os.environ['PATH']}",
           "LD_LIBRARY_PATH": stub_env.library_path_with_libpython(str(libs))}
    assert sysconfig.get_config_var("LIBDIR") in env["LD_LIBRARY_PATH"]
    http_port, grpc_port, metrics_port = ports
    command = [str(server / "bin" / "tritonserver"), f"--model-repository={repo}", f"--backend-directory={server / 'backends'}",
               "--http-address=127.0.0.1", f"--http-port={http_port}", "--grpc-address=127.0.0.1", f"--grpc-port={grpc_port}",
               "--metrics-address=127.0.0.1", f"--metrics-port={metrics_port}", "--exit-timeout-secs=10"]
    return subprocess.Popen(command, stdout=open(workdir / "tritonserver.log", "w"), stderr=subprocess.STDOUT, env=env)


@pytest.mark.triton
@pytest.mark.skipif(not HAS_PYTRITON, reason="nvidia-pytriton is not installed")
def test_fleet_repository_serves_in_bundled_triton(tiny_run, stub_env, tmp_path):
    import psutil
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    from sotriage.runtime.classifier import Classifier
    from sotriage.runtime.model_ref import resolve_model
    from sotriage.serving.client import ClientConfig, TritonClassifierClient
    from sotriage.serving.triton_repo import TritonRepoConfig, write_triton_repo

    repo = write_triton_repo(resolve_model(tiny_run), tmp_path / "models", TritonRepoConfig(precision="fp32", max_batch_size=8))
    config_path = repo / "sotriage_onnx" / "config.pbtxt"
    config = text_format.Parse(config_path.read_text(), model_config_pb2.ModelConfig())
    config.platform, config.backend = "", "python"
    config_path.write_text(text_format.MessageToString(config))
    (repo / "sotriage_onnx" / "1" / "model.py").write_text(ONNX_STAND_IN)

    ports = _free_ports(3)
    process = _bundled_tritonserver(repo, tmp_path, ports)
    log_path = tmp_path / "tritonserver.log"
    try:
        deadline, ready = time.monotonic() + 120, False
        while time.monotonic() < deadline and process.poll() is None and not ready:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/v2/models/sotriage/ready", timeout=2) as response:
                    ready = response.status == 200
            except OSError:
                time.sleep(1)
        assert ready, log_path.read_text()[-4000:]

        raw = [Question(id=str(i), title=t, body=b, tags=g.replace(",", " ").split()) for i, (t, b, g) in enumerate(RAW_QUESTIONS)]
        reference = Classifier.load(str(tiny_run), backend="onnx", threads=1)
        expected = reference.predict_proba(_expected_questions(RAW_QUESTIONS))
        for protocol, port in (("http", ports[0]), ("grpc", ports[1])):
            with TritonClassifierClient(ClientConfig(url=f"127.0.0.1:{port}", protocol=protocol)) as client:
                outputs = client.infer_raw(raw)
                np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)
                assert outputs["label_names"][0].tolist() == [b"open", b"closed"]
                inputs = client.build_inputs(raw[:1])
                inputs[1].set_data_from_numpy(np.array([[b"\xff"]], dtype=np.object_))
                with pytest.raises(Exception, match="not valid UTF-8"):
                    client._client.infer("sotriage", inputs)
                assert client.predict(raw[:1])[0].label in ("open", "closed")
        children = [child.pid for child in psutil.Process(process.pid).children(recursive=True)]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0, log_path.read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not [pid for pid in children if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert "bad request" in log_path.read_text()
