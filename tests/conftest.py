"""Shared fixtures: a tiny BERT built from a BertConfig (never downloaded) and the real data."""

from __future__ import annotations

import importlib.util

import os
import string
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """The real data beside the checkout (../shared/data), or SOTRIAGE_SHARED_DATA."""
    return Path(os.environ.get("SOTRIAGE_SHARED_DATA", REPO.parent / "shared" / "data"))


def _real_file(relative: str) -> Path:
    """Return a file of the real data, skipping (or failing, in CI) when it is absent."""
    path = shared_data_dir() / relative
    if not path.is_file():
        if os.environ.get("SOTRIAGE_REQUIRE_SHARED_DATA"):
            pytest.fail(f"real data not found at {path}, and SOTRIAGE_REQUIRE_SHARED_DATA is set")
        pytest.skip(f"real data not found at {path}; set SOTRIAGE_SHARED_DATA to its folder")
    return path


@pytest.fixture(scope="session")
def real_csv() -> Path:
    return _real_file("so-closed-questions/train-sample-subset.csv.gz")


@pytest.fixture(scope="session")
def real_posts_xml() -> Path:
    return _real_file("stackexchange-dump-coffee/Posts.xml")


def build_tiny_bert(folder: Path, label_names=("open", "closed"), seed: int = 0) -> Path:
    """Save a tiny random BertForSequenceClassification and a WordPiece tokenizer into `folder`.

    The vocabulary has the special tokens, single characters and their ## continuations, and a
    few whole words, so any ASCII text tokenizes without [UNK] floods.
    """
    import torch
    from tokenizers import Tokenizer
    from tokenizers.models import WordPiece
    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    characters = list(string.ascii_lowercase + string.digits + string.punctuation)
    words = ["the", "how", "what", "why", "best", "error", "code", "python", "java", "list", "question", "is", "to", "in"]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *characters, *[f"##{c}" for c in characters], *words]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    # Built with the tokenizers library, so the WordPiece vocabulary is used whatever the
    # transformers version's BertTokenizer constructor expects.
    wordpiece = Tokenizer(WordPiece({token: i for i, token in enumerate(vocab)}, unk_token="[UNK]"))
    wordpiece.normalizer = BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = BertPreTokenizer()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=wordpiece, unk_token="[UNK]", pad_token="[PAD]",
                                        cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    tokenizer.save_pretrained(folder)

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=512, type_vocab_size=2, num_labels=len(label_names),
        id2label=dict(enumerate(label_names)), label2id={n: i for i, n in enumerate(label_names)},
    )
    BertForSequenceClassification(config).save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A tiny base model folder (random weights, 2 labels)."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Keep every test's cache (shipped-model builds, ONNX files) in its own temporary folder."""
    monkeypatch.setenv("SOTRIAGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def small_dataset(real_csv, tmp_path_factory) -> Path:
    """A prepared binary dataset from the first 400 real questions."""
    from sotriage.data.prepare import PrepareConfig, prepare_dataset

    out = tmp_path_factory.mktemp("data") / "so-small"
    prepare_dataset(PrepareConfig(source=str(real_csv), out=str(out), max_rows=400))
    return out


@pytest.fixture(scope="session")
def tiny_run(small_dataset, tiny_bert, tmp_path_factory) -> Path:
    """A run folder: the tiny BERT trained with LoRA for a few steps, merged and exported to ONNX."""
    from sotriage.encoding import EncodingConfig
    from sotriage.export.pipeline import ExportConfig, export_model
    from sotriage.run_dir import RunDir
    from sotriage.training.config import TrainConfig
    from sotriage.training.trainer import train

    out = tmp_path_factory.mktemp("runs") / "tiny"
    train(TrainConfig(data_dir=str(small_dataset), out=str(out), model=str(tiny_bert), epochs=1, max_examples=64,
                      batch_size=16, learning_rate=1e-3, threads=1, encoding=EncodingConfig(max_length=64, title_max_tokens=16, tail_tokens=8)))
    run = RunDir(out)
    # The Q/DQ graph for openvino-int8 is built when OpenVINO is installed (the dev extra has it).
    openvino_int8 = importlib.util.find_spec("openvino") is not None
    export_model(run.model, run.onnx_dir, run, ExportConfig(parity_examples=32, threads=1, int8_min_agreement=0.0,
                                                            openvino_int8=openvino_int8, calibration_questions=64))
    return out
