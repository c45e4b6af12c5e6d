"""The whole pipeline through the command line: prepare, train, export, evaluate, predict."""

import json

import pytest
import torch
from click.testing import CliRunner

from sotriage.cli.main import cli
from sotriage.encoding import EncodingConfig
from sotriage.modeling import load_sequence_classifier
from sotriage.run_dir import RunDir
from sotriage.training import trainer
from sotriage.training.config import TrainConfig


def invoke(*args, input=None):
    result = CliRunner().invoke(cli, [str(a) for a in args], input=input)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.slow
def test_prepare_train_export_evaluate_predict(real_csv, tiny_bert, tmp_path):
    data, run = tmp_path / "data", tmp_path / "runs" / "tiny"
    invoke("data", "prepare", real_csv, "--out", data, "--max-rows", "240")
    invoke("train", data, "--out", run, "--model", tiny_bert, "--max-examples", "48", "--epochs", "1",
           "--batch-size", "16", "--max-length", "64", "--threads", "1", "--eval-max-examples", "16")
    for artifact in ("config", "split", "adapter", "model"):
        assert getattr(RunDir(run), artifact).exists()
    output = invoke("export", run, "--parity-examples", "16", "--int8-min-agreement", "0", "--threads", "1")
    assert "onnx-int8" in output

    results = {}
    for backend in ("torch", "onnx", "onnx-int8"):
        line = invoke("evaluate", run, "--backend", backend, "--json", "--threads", "1").strip().splitlines()[-1]
        results[backend] = json.loads(line)
        for field in ("backend", "n", "accuracy", "macro_f1", "log_loss"):
            assert field in results[backend]
        assert (run / "metrics" / f"eval-{backend}-test.json").is_file()
    assert results["torch"]["n"] == 24
    assert results["onnx"]["accuracy"] == results["torch"]["accuracy"]
    assert results["onnx"]["log_loss"] == pytest.approx(results["torch"]["log_loss"], abs=1e-4)

    single = json.loads(invoke("predict", run, "--title", "Best IDE for java?", "--tags", "java", "--backend", "onnx"))
    assert single["label"] in ("open", "closed")
    assert sum(single["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    lines = invoke("predict", run, "--backend", "onnx", input='{"title": "a", "body": "b"}\n{"title": "c", "tags": ["x"]}\n')
    assert len(lines.strip().splitlines()) == 2


def test_stage_without_its_input_names_the_command(tmp_path):
    result = CliRunner().invoke(cli, ["export", str(tmp_path / "nothing")])
    assert result.exit_code == 1
    assert "sotriage train DATA_DIR --out" in result.output
    result = CliRunner().invoke(cli, ["train", str(tmp_path / "no-data"), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert "sotriage data prepare SOURCE --out" in result.output


@pytest.mark.parametrize("flag,value,message", [
    ("--rank", "0", "invalid --rank 0"),
    ("--epochs", "-1", "invalid --epochs -1"),
    ("--targets", " , ", "invalid --targets"),
])
def test_train_rejects_bad_options(small_dataset, tmp_path, flag, value, message):
    result = CliRunner().invoke(cli, ["train", str(small_dataset), "--out", str(tmp_path / "run"), flag, value])
    assert result.exit_code == 1
    assert message in result.output


def test_predict_reports_bad_json_line(tiny_run):
    result = CliRunner().invoke(cli, ["predict", str(tiny_run), "--backend", "onnx"], input="{not json}\n")
    assert result.exit_code == 1
    assert "stdin line 1: invalid JSON" in result.output


def tiny_config(small_dataset, tiny_bert, out, **overrides):
    options = dict(data_dir=str(small_dataset), out=str(out), model=str(tiny_bert), epochs=1, max_examples=64,
                   batch_size=8, eval_every=3, learning_rate=1e-3, threads=1, precision="fp32",
                   encoding=EncodingConfig(max_length=48, title_max_tokens=16, tail_tokens=8))
    options.update(overrides)
    return TrainConfig(**options)


def interrupt_after_first_checkpoint(config, monkeypatch):
    """Run training that raises KeyboardInterrupt right after its first checkpoint is written."""
    original = trainer.evaluate_and_checkpoint

    def interrupt(*args, **kwargs):
        original(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "evaluate_and_checkpoint", interrupt)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(config)
    monkeypatch.setattr(trainer, "evaluate_and_checkpoint", original)


@pytest.mark.slow
def test_resume_gives_the_uninterrupted_model(small_dataset, tiny_bert, tmp_path, monkeypatch):
    trainer.train(tiny_config(small_dataset, tiny_bert, tmp_path / "straight"))

    # Interrupt the second run right after its first checkpoint (step 3 of 8).
    interrupt_after_first_checkpoint(tiny_config(small_dataset, tiny_bert, tmp_path / "resumed"), monkeypatch)
    assert not (tmp_path / "resumed" / "model").exists()
    trainer.train(tiny_config(small_dataset, tiny_bert, tmp_path / "resumed"), resume=True)

    inputs = {"input_ids": torch.tensor([[2, 20, 30, 40, 3]]), "attention_mask": torch.ones(1, 5, dtype=torch.long)}
    with torch.inference_mode():
        straight = load_sequence_classifier(str(tmp_path / "straight" / "model")).eval()(**inputs).logits
        resumed = load_sequence_classifier(str(tmp_path / "resumed" / "model")).eval()(**inputs).logits
    torch.testing.assert_close(resumed, straight, atol=1e-5, rtol=1e-5)


def test_resume_rejects_changed_options(small_dataset, tiny_bert, tmp_path):
    from sotriage.errors import InputError

    trainer.train(tiny_config(small_dataset, tiny_bert, tmp_path / "run", max_examples=16))
    with pytest.raises(InputError, match="differ from the interrupted run's in: lora_rank"):
        trainer.train(tiny_config(small_dataset, tiny_bert, tmp_path / "run", max_examples=16, lora_rank=4), resume=True)


def test_finalize_merges_best_checkpoint_of_interrupted_run(small_dataset, tiny_bert, tmp_path, monkeypatch):
    interrupt_after_first_checkpoint(tiny_config(small_dataset, tiny_bert, tmp_path / "run"), monkeypatch)

    summary = trainer.train(tiny_config(small_dataset, tiny_bert, tmp_path / "run"), finalize=True)
    assert summary["steps"] == 3
    assert summary["finished_schedule"] is False
    assert summary["best_step"] == 3
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    assert (tmp_path / "run" / "README.md").is_file()


def test_evaluate_rejects_empty_selection(tiny_run):
    result = CliRunner().invoke(cli, ["evaluate", str(tiny_run), "--backend", "onnx", "--max-examples", "0"])
    assert result.exit_code == 2
    assert "--max-examples" in result.output
    result = CliRunner().invoke(cli, ["predict", str(tiny_run), "--tags", "python"])
    assert result.exit_code == 2
    assert "--tags needs a question" in result.output


def test_prepare_rejects_too_few_questions(real_csv, tmp_path):
    result = CliRunner().invoke(cli, ["data", "prepare", str(real_csv), "--out", str(tmp_path / "d"), "--max-rows", "10",
                                        "--fractions", "0.9,0.1,0.0"])
    assert result.exit_code == 1
    assert "split empty" in result.output
    assert not (tmp_path / "d").exists()
