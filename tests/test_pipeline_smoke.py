from sotriage.run_dir import RunDir


def test_tiny_run_has_every_artifact(tiny_run):
    run = RunDir(tiny_run)
    for artifact in ("config", "split", "adapter", "model", "onnx", "onnx_fused", "onnx_int8", "export_report"):
        assert getattr(run, artifact).exists(), artifact
