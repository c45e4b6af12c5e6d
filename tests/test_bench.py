"""`sotriage bench` on the tiny model: the JSON fields the docs promise, the files, and bad flags."""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest
from click.testing import CliRunner

from sotriage.bench.ceilings import CostModel, measure_ceilings
from sotriage.bench.config import BenchConfig
from sotriage.bench.runner import Entry, planned_settings, summarize_model
from sotriage.bench.workloads import load_workload
from sotriage.cli.main import cli

TINY_FLAGS = ["--n", "6", "--passes", "1", "--threads", "1", "--max-batch-tokens", "256", "--gemm-shape", "256,64,128"]


def run_bench(args: list[str], cache_dir):
    with pytest.MonkeyPatch.context() as patch:
        # Module-scoped runs happen before the per-test cache fixture, so isolate the cache here.
        patch.setenv("SOTRIAGE_CACHE", str(cache_dir))
        patch.setenv("HF_HUB_OFFLINE", "1")
        return CliRunner().invoke(cli, ["bench", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def full_run(tiny_run, small_dataset, tmp_path_factory):
    """One benchmark of every setting, with the tiny run as the classifier and as bert-base."""
    root = tmp_path_factory.mktemp("bench")
    out, json_copy = root / "out", root / "copy" / "results.json"
    result = run_bench(["--model", str(tiny_run), "--bert-base-model", str(tiny_run / "model"),
                        "--data", str(small_dataset), "--out", str(out), "--json", str(json_copy), *TINY_FLAGS],
                       root / "cache")
    assert result.exit_code == 0, result.output
    return out, json_copy, json.loads((out / "bench.json").read_text()), result.output


def test_entries_name_model_backend_setting(full_run):
    _, _, data, _ = full_run
    assert data["entries"]
    for entry in data["entries"]:
        assert entry["model"] in ("classifier", "bert-base")
        assert entry["backend"]
        assert entry["setting"] in ("reference", "sorted32", "production", "latency", "end2end")
        assert entry["seq_per_s"] > 0
        assert len(entry["pass_seconds"]) == 1


def test_every_setting_measured_for_both_models(full_run):
    _, _, data, _ = full_run
    for model in ("classifier", "bert-base"):
        for backend in ("torch", "onnx", "onnx-int8"):
            settings = {e["setting"] for e in data["entries"] if e["model"] == model and e["backend"] == backend}
            assert settings == {"reference", "sorted32", "production", "latency", "end2end"}, (model, backend)


def test_speedups_are_ratios_of_entries(full_run):
    _, _, data, _ = full_run
    for model in ("classifier", "bert-base"):
        info = data["models"][model]
        entries = {(e["backend"], e["setting"]): e["seq_per_s"] for e in data["entries"] if e["model"] == model}
        best = entries[(info["best_backend"], info["best_setting"])]
        assert info["best_setting"] in ("reference", "sorted32", "production")
        assert best == max(v for (_, s), v in entries.items() if s in ("reference", "sorted32", "production"))
        assert info["speedup_vs_reference"] == pytest.approx(best / entries[("torch", "reference")], rel=1e-2)
        assert info["speedup_vs_standard_recipe"] == pytest.approx(best / entries[("onnx-int8", "sorted32")], rel=1e-2)


def test_json_records_context(full_run):
    _, _, data, _ = full_run
    assert data["hardware"]["cpu_model"]
    assert data["hardware"]["physical_cores"] >= 1
    assert "avx512_vnni" in data["hardware"]["flags"]
    for package in ("torch", "onnxruntime", "transformers"):
        assert data["versions"][package]
    assert data["threads"]["torch_intra_op_threads"] == 1
    assert data["threads"]["ort_intra_op_threads"] == 1
    assert data["threads"]["ort_inter_op_threads"] == 1
    assert data["passes"] == 1
    assert data["statistic"] == "median"
    assert data["data"]["kind"] == "prepared dataset (test split)"
    assert data["data"]["n"] == 6
    assert 0 <= data["cpu_share_used_by_other_processes"] <= 1
    assert data["ceilings"]["ort_fp32"]["gflop_per_s"] > 0
    assert data["ceilings"]["ort_int8"]["gflop_per_s"] > 0


def test_json_records_cost_and_share(full_run):
    _, _, data, _ = full_run
    assert "formula" in data["models"]["bert-base"]["cost_model"]
    assert data["models"]["classifier"]["max_length"] == 64  # from the tiny run's sotriage.json
    assert data["models"]["bert-base"]["reference_pad_to"] == 512
    reference = next(e for e in data["entries"] if e["setting"] == "reference")
    assert reference["pad_to"] == 512
    assert reference["batching"]["max_padded_length"] == 512
    for entry in data["entries"]:
        assert entry["share_of_ceiling"] > 0
        assert entry["ceiling"] in data["ceilings"]
    ceiling_of = {e["backend"]: e["ceiling"] for e in data["entries"]}
    assert ceiling_of["torch"] == "torch_fp32"
    assert ceiling_of["onnx"] == "ort_fp32"
    assert ceiling_of["onnx-int8"] == "ort_int8"


def test_latency_and_end_to_end_fields(full_run):
    _, _, data, _ = full_run
    latency = next(e for e in data["entries"] if e["setting"] == "latency")
    assert latency["latency"]["p50_ms"] <= latency["latency"]["p95_ms"] <= latency["latency"]["p99_ms"]
    assert latency["latency"]["calls"] == 6
    end_to_end = next(e for e in data["entries"] if e["setting"] == "end2end")
    assert end_to_end["tokenize_q_per_s"] > 0
    assert end_to_end["max_batch_tokens"] == 256
    goals = {(g["model"], g["metric"]) for g in data["goals"]}
    assert ("classifier", "best_end2end_q_per_s") in goals
    assert ("bert-base", "speedup_vs_standard_recipe") in goals


def test_markdown_plots_and_json_copy_written(full_run):
    out, json_copy, data, output = full_run
    markdown = (out / "bench.md").read_text()
    assert "## bert-base" in markdown
    assert "median" in markdown
    for name in ("throughput.png", "latency.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(json_copy.read_text())["entries"] == data["entries"]
    assert "median of 1 pass after a warm-up" in output


def test_quick_plan_measures_reference_recipe_and_production():
    config = BenchConfig(quick=True, threads=1)
    assert config.n == 64
    assert planned_settings(config, "torch") == ["reference"]
    assert planned_settings(config, "onnx-int8") == ["sorted32", "production"]
    assert planned_settings(config, "openvino") == ["production"]


def test_summary_without_reference_has_no_speedup():
    entries = [Entry("bert-base", "onnx-int8", "sorted32", 10, [1.0]),
               Entry("bert-base", "onnx-int8", "production", 10, [0.5])]
    summary = summarize_model("bert-base", entries)
    assert summary["best_setting"] == "production"
    assert summary["speedup_vs_standard_recipe"] == pytest.approx(2.0)
    assert summary["speedup_vs_reference"] is None


def test_missing_backend_file_is_skipped_with_reason(tiny_run, small_dataset, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "onnx" / "model-int8.onnx").unlink()
    result = run_bench(["--model", str(run), "--models", "classifier", "--backends", "onnx,onnx-int8",
                        "--settings", "sorted32", "--data", str(small_dataset), "--out", str(tmp_path / "out"),
                        *TINY_FLAGS], tmp_path / "cache")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert [e["backend"] for e in data["entries"]] == ["onnx"]
    skipped = [s for s in data["skipped"] if s["backend"] == "onnx-int8"]
    assert skipped and "model-int8.onnx" in skipped[0]["reason"]


def test_levers_recorded_with_ratios(tiny_run, small_dataset, tmp_path):
    backends = "onnx,onnx-int8,openvino-int8" if importlib.util.find_spec("openvino") is not None else "onnx,onnx-int8"
    result = run_bench(["--model", str(tiny_run), "--models", "classifier", "--backends", backends,
                        "--settings", "reference,sorted32,production", "--levers", "--data", str(small_dataset),
                        "--out", str(tmp_path / "out"), *TINY_FLAGS], tmp_path / "cache")
    assert result.exit_code == 0, result.output
    levers = json.loads((tmp_path / "out" / "bench.json").read_text())["levers"]
    names = {lever["lever"] for lever in levers}
    for expected in ("padding removed", "token-budget batching", "token budget", "ORT spinning",
                     "intra-op threads", "tokenizer batching", "graph fusion (FP32)", "sequence bucketing"):
        assert expected in names
    measured_here = [lever for lever in levers if lever.get("setting") in ("reference", "sorted32", "production", "tokenize")]
    assert measured_here
    for lever in measured_here:
        assert lever["ratio_vs_baseline"] > 0, lever
    if importlib.util.find_spec("openvino") is not None:
        qdq = [item for item in levers if item["lever"] == "OpenVINO INT8 (Q/DQ graph)"]
        # Derived from the main entries of both backends in the settings this run measured.
        assert {item.get("setting") for item in qdq} == {"sorted32", "production"}, qdq
        assert all(item["ratio_vs_baseline"] > 0 for item in qdq)
    baseline = next(item for item in levers if item["lever"] == "token budget" and item["variant"] == "256")
    assert baseline["ratio_vs_baseline"] == 1.0
    assert "## Levers" in (tmp_path / "out" / "bench.md").read_text()


@pytest.mark.parametrize("flags, message", [
    (["--models", "gpt2"], "invalid --models gpt2"),
    (["--settings", "fast"], "invalid --settings fast"),
    (["--backends", "tensorflow"], "invalid --backends tensorflow"),
    (["--n", "0"], "invalid --n 0"),
    (["--threads", "0"], "invalid --threads 0"),
    (["--passes", "0"], "invalid --passes 0"),
    (["--max-batch-tokens", "4"], "invalid --max-batch-tokens 4"),
    (["--gemm-shape", "64,64"], "invalid --gemm-shape"),
    (["--data", "/nonexistent/questions.csv"], "--data /nonexistent/questions.csv not found"),
])
def test_bad_flags_give_clear_errors(flags, message, tmp_path):
    result = CliRunner().invoke(cli, ["bench", "--out", str(tmp_path / "out"), *flags])
    assert result.exit_code != 0
    assert message in result.output
    assert not (tmp_path / "out").exists()


def test_workload_samples_kaggle_csv(real_csv, tmp_path):
    import pandas as pd

    subset = tmp_path / "subset.csv"
    pd.read_csv(real_csv, nrows=300).to_csv(subset, index=False)
    workload = load_workload(str(subset), 20, seed=1)
    assert len(workload.questions) == 20
    assert workload.kind == "Kaggle CSV"
    assert workload.pool_size == 300
    assert workload.questions != load_workload(str(subset), 20, seed=2).questions


def test_workload_caps_n_at_pool_size(small_dataset):
    workload = load_workload(str(small_dataset), 10_000)
    assert 0 < len(workload.questions) == workload.pool_size < 10_000


def test_workload_falls_back_to_bundled_sample(monkeypatch, tmp_path):
    monkeypatch.setenv("SOTRIAGE_SHARED_DATA", str(tmp_path))
    workload = load_workload(None, 5)
    assert workload.kind == "bundled sample"
    assert len(workload.questions) == 5


def test_cost_model_matches_bert_base():
    cost = CostModel(hidden_size=768, num_layers=12, intermediate_size=3072)
    assert cost.matmul_parameters == 84_934_656  # 12 x (4 x 768^2 + 2 x 768 x 3072)
    matmul_only = 2 * cost.matmul_parameters * 128
    attention = 12 * 128 * 4 * 128 * 768
    assert cost.flops(128) == pytest.approx(matmul_only + attention)


def test_ceilings_measure_every_gemm():
    ceilings = measure_ceilings(threads=1, shape=(64, 64, 64), repeats=1)
    for name in ("ort_fp32", "ort_int8", "torch_fp32"):
        assert ceilings[name]["gflop_per_s"] > 0
    assert ceilings["shape"] == "64x64 by 64x64"
