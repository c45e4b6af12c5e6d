"""Parity checks that can fail: LoRA merge, adapter reload, ONNX export, padding."""

import numpy as np
import pytest
import torch

from sotriage.data.schema import Question
from sotriage.encoding import EncodingConfig, QuestionEncoder, pad_batch
from sotriage.export.onnx_export import export_onnx
from sotriage.modeling import load_sequence_classifier, load_tokenizer
from sotriage.runtime.onnx_backend import OnnxBackend
from sotriage.training.config import TrainConfig
from sotriage.training.model import wrap_with_lora

QUESTIONS = [
    Question(id="1", title="How do I parse json in python?", body="I tried json.loads and got an error.", tags=["python", "json"]),
    Question(id="2", title="Best ide?", body="", tags=["ide"]),
    Question(id="3", title="Why is my java list empty", body="code " * 40, tags=["java"]),
]


def trained_lora(tiny_bert, seed=0):
    """A LoRA-wrapped tiny BERT whose LoRA B matrices and head are non-zero, as after training."""
    model = load_sequence_classifier(str(tiny_bert), ["open", "closed"])
    model = wrap_with_lora(model, TrainConfig(data_dir="unused", out="unused", lora_rank=4))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.requires_grad:
                parameter.add_(0.1 * torch.randn(parameter.shape, generator=generator))
    return model.eval()


def encoded_batch(tiny_bert):
    encoder = QuestionEncoder(load_tokenizer(str(tiny_bert)), EncodingConfig(max_length=48, title_max_tokens=16, tail_tokens=8))
    encoded = encoder.encode(QUESTIONS)
    return encoded, {k: torch.from_numpy(v) for k, v in pad_batch(encoded).items()}


@torch.inference_mode()
def test_merged_model_matches_peft_model(tiny_bert):
    model = trained_lora(tiny_bert)
    _, batch = encoded_batch(tiny_bert)
    peft_logits = model(**batch).logits
    merged = model.merge_and_unload().eval()
    merged_logits = merged(**batch).logits
    assert not any("lora" in name for name, _ in merged.named_parameters())
    torch.testing.assert_close(merged_logits, peft_logits, atol=1e-5, rtol=1e-5)


@torch.inference_mode()
def test_saved_adapter_reloads_with_head(tiny_bert, tmp_path):
    from peft import PeftModel

    model = trained_lora(tiny_bert)
    _, batch = encoded_batch(tiny_bert)
    expected = model(**batch).logits
    model.save_pretrained(tmp_path / "adapter")

    fresh = load_sequence_classifier(str(tiny_bert), ["open", "closed"])
    reloaded = PeftModel.from_pretrained(fresh, str(tmp_path / "adapter")).eval()
    torch.testing.assert_close(reloaded(**batch).logits, expected, atol=1e-6, rtol=1e-6)
    # A fresh head alone would differ: the head and pooler must come from the adapter files.
    plain = load_sequence_classifier(str(tiny_bert), ["open", "closed"]).eval()
    assert not torch.allclose(plain(**batch).logits, expected, atol=1e-3)


def test_onnx_matches_torch_on_new_shapes(tiny_bert, tmp_path):
    model_dir = tmp_path / "merged"
    trained_lora(tiny_bert).merge_and_unload().save_pretrained(model_dir)
    load_tokenizer(str(tiny_bert)).save_pretrained(model_dir)
    onnx_path = export_onnx(model_dir, tmp_path / "model.onnx")

    encoded, batch = encoded_batch(tiny_bert)
    assert batch["input_ids"].shape != (2, 16)  # the export dummy's shape
    with torch.inference_mode():
        expected = load_sequence_classifier(str(model_dir)).eval()(**batch).logits.numpy()
    backend = OnnxBackend(onnx_path, threads=1)
    actual = backend({k: v.numpy() for k, v in batch.items()})
    np.testing.assert_allclose(actual, expected, atol=1e-4)
    single = backend(pad_batch(encoded[:1]))
    np.testing.assert_allclose(single, expected[:1], atol=1e-4)


@torch.inference_mode()
def test_question_alone_equals_inside_padded_batch(tiny_bert):
    model = trained_lora(tiny_bert).merge_and_unload().eval()
    encoded, batch = encoded_batch(tiny_bert)
    batched = model(**batch).logits
    assert batch["attention_mask"].sum(1).min() < batch["attention_mask"].shape[1]  # some rows are padded
    for row, item in enumerate(encoded):
        alone = {k: torch.from_numpy(v) for k, v in pad_batch([item]).items()}
        torch.testing.assert_close(model(**alone).logits[0], batched[row], atol=1e-5, rtol=1e-5)


def test_head_tail_truncation_keeps_the_end(tiny_bert):
    tokenizer = load_tokenizer(str(tiny_bert))
    body = "a " * 100 + "z z z"
    question = Question(id="1", title="t", body=body)
    head = QuestionEncoder(tokenizer, EncodingConfig(max_length=32, truncation="head", title_max_tokens=4, tail_tokens=4)).encode([question])[0]
    tail = QuestionEncoder(tokenizer, EncodingConfig(max_length=32, truncation="head_tail", title_max_tokens=4, tail_tokens=4)).encode([question])[0]
    z = tokenizer.convert_tokens_to_ids("z")
    assert len(head) == len(tail) == 32
    assert z not in head.input_ids
    assert tail.input_ids[-4:-1] == [z, z, z]
    assert tail.input_ids[-1] == tokenizer.sep_token_id
    assert tail.token_type_ids[:4] == [0, 0, 0, 1]  # [CLS] t [SEP] body...
    assert tail.token_type_ids[-1] == 1


@pytest.mark.parametrize("field,value,message", [
    ("max_length", 8, "invalid max_length 8"),
    ("truncation", "middle", "invalid truncation 'middle'"),
    ("title_max_tokens", 0, "invalid title_max_tokens 0"),
])
def test_encoding_config_rejects_bad_values(field, value, message):
    from sotriage.errors import InputError

    with pytest.raises(InputError, match=message):
        EncodingConfig(**{field: value})


def test_pad_multiple_keeps_logits(tiny_run, small_dataset):
    from sotriage.data.dataset import load_dataset
    from sotriage.errors import InputError
    from sotriage.runtime.classifier import Classifier

    questions = load_dataset(small_dataset).split("validation").questions[:24]
    plain = Classifier.load(str(tiny_run), backend="onnx", threads=1)
    bucketed = Classifier.load(str(tiny_run), backend="onnx", threads=1)
    bucketed.pad_multiple = 32
    seen = []
    backend = bucketed.backend

    def recording_backend(inputs):
        seen.append(inputs["input_ids"].shape[1])  # (batch, seq)
        return backend(inputs)

    bucketed.backend = recording_backend
    np.testing.assert_allclose(bucketed.logits(questions), plain.logits(questions), atol=1e-4)
    assert seen and all(length % 32 == 0 for length in seen)
    with pytest.raises(InputError, match="invalid pad_multiple 0"):
        Classifier(plain.encoder, plain.backend, plain.label_names, pad_multiple=0)
