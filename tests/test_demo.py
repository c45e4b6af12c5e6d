import pytest
from click.testing import CliRunner

from sotriage.cli.main import cli
from sotriage.run_dir import RunDir


@pytest.mark.slow
def test_demo_prints_table_and_leaves_run_folder(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--epochs", "0.25", "--threads", "2"])
    assert result.exit_code == 0, result.output
    for backend in ("torch", "onnx", "onnx-int8"):
        assert backend in result.stdout
    assert "speedup" in result.stdout  # rich may wrap the full header in a narrow terminal
    run = RunDir(out)
    for artifact in ("config", "split", "adapter", "model", "onnx", "onnx_int8", "card"):
        assert getattr(run, artifact).exists(), artifact
    assert (run.metrics / "eval-onnx-int8-test.json").is_file()
