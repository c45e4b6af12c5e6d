"""Triton Python model `sotriage_tokenizer`: questions (BYTES) in, padded token ids (INT64) out.

Copied as `model.py` into the repository by `sotriage export --triton-repo`, next to the model's
`tokenizer.json`, its `sotriage.json` (encoding settings) and `sotriage_text.py` (the Markdown
cleaner). It applies the same steps as `sotriage.encoding.QuestionEncoder`: a BERT sentence pair
of "title [tags: ...]" and the cleaned body, the title capped at `title_max_tokens`, the body cut
to fit `max_length` (keeping its last `tail_tokens` tokens with head_tail truncation).

Outputs are padded to a multiple of `pad_to_multiple` tokens (config parameter). Triton's dynamic
batcher only batches requests whose tensors have the same shape, so few distinct shapes let it
batch the ONNX model's requests: with max_length 256 and multiples of 64 there are four.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils  # provided by Triton's Python backend
from tokenizers import Tokenizer

try:  # the repository carries a copy of sotriage/data/text.py beside this file
    from sotriage_text import clean_markdown, question_text
except ImportError:  # running from the sotriage package (tests)
    from sotriage.data.text import clean_markdown, question_text

TEXT_INPUTS = ("title", "body", "tags")
OUTPUTS = ("input_ids", "attention_mask", "token_type_ids")


class InvalidRequest(ValueError):
    """A request this model rejects; the message is sent back to the client."""


def _parameter(config: dict, key: str, default: str) -> str:
    return config.get("parameters", {}).get(key, {}).get("string_value", default)


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        folder = Path(args["model_repository"]) / args["model_version"]
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        # tokenizer.json may carry truncation or padding from training; the steps below do both.
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        encoding = json.loads((folder / "sotriage.json").read_text(encoding="utf-8")).get("encoding", {})
        self.max_length = int(encoding.get("max_length", 256))
        self.truncation = encoding.get("truncation", "head_tail")
        self.title_max_tokens = int(encoding.get("title_max_tokens", 48))
        self.tail_tokens = int(encoding.get("tail_tokens", 64))
        self.include_tags = bool(encoding.get("include_tags", True))
        self.cls_id = int(_parameter(config, "cls_id", "101"))
        self.sep_id = int(_parameter(config, "sep_id", "102"))
        self.pad_id = int(_parameter(config, "pad_id", "0"))
        self.pad_to_multiple = max(1, int(_parameter(config, "pad_to_multiple", "64")))
        self.max_body_bytes = int(_parameter(config, "max_body_bytes", "131072"))
        self.logger = pb_utils.Logger

    # --- request handling -------------------------------------------------------------

    def execute(self, requests: list) -> list:
        """Tokenize every valid request of the batch in one call; invalid ones get an error response."""
        parsed: list = []
        for request in requests:
            try:
                parsed.append(self.read_request(request))
            except InvalidRequest as error:
                self.logger.log_warn(f"bad request {request.request_id() or '(no id)'}: {error}")
                parsed.append(error)

        pairs = [pair for item in parsed if not isinstance(item, InvalidRequest) for pair in item]
        encoded = iter(self.encode(pairs))
        responses = []
        for item in parsed:
            if isinstance(item, InvalidRequest):
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(str(item))))
                continue
            arrays = self.pad([next(encoded) for _ in item])
            tensors = [pb_utils.Tensor(name, arrays[name]) for name in OUTPUTS]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses

    def read_request(self, request) -> list[tuple[str, str]]:
        """Return the (first segment, cleaned body) pair of each question in the request."""
        columns = {}
        for name in TEXT_INPUTS:
            tensor = pb_utils.get_input_tensor_by_name(request, name)
            if tensor is None:
                raise InvalidRequest(f"missing input '{name}': send title, body and tags as BYTES with shape [n, 1]")
            columns[name] = tensor.as_numpy().reshape(-1)
        rows = len(columns["title"])
        if rows == 0:
            raise InvalidRequest("empty batch: the request has 0 questions; send at least one row per input")
        if any(len(column) != rows for column in columns.values()):
            shapes = {name: len(column) for name, column in columns.items()}
            raise InvalidRequest(f"inputs have different numbers of rows {shapes}: send one value per question in each")
        pairs = []
        for row in range(rows):
            title, body, tags = (self.decode(name, columns[name][row], row) for name in TEXT_INPUTS)
            if not title.strip() and not body.strip():
                raise InvalidRequest(f"row {row}: title and body are both empty; send the question's text")
            tag_list = tags.replace(",", " ").split() if self.include_tags else []
            pairs.append(question_text(title, clean_markdown(body), tag_list))
        return pairs

    def decode(self, name: str, value, row: int) -> str:
        raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        if len(raw) > self.max_body_bytes:
            raise InvalidRequest(f"input '{name}' row {row} is {len(raw)} bytes, over the limit of {self.max_body_bytes} "
                                 "bytes (config parameter max_body_bytes): shorten it or raise the limit")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidRequest(f"input '{name}' row {row} is not valid UTF-8 (byte {error.start}): send UTF-8 encoded text") from None

    # --- tokenization, same steps as sotriage.encoding.QuestionEncoder ------------------

    def encode(self, pairs: list[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
        """Return (input_ids, token_type_ids) per pair, truncated to max_length."""
        if not pairs:
            return []
        firsts = self.tokenizer.encode_batch([first for first, _ in pairs], add_special_tokens=False)
        bodies = self.tokenizer.encode_batch([body for _, body in pairs], add_special_tokens=False)
        return [self.assemble(first.ids, body.ids) for first, body in zip(firsts, bodies)]

    def assemble(self, first: list[int], body: list[int]) -> tuple[list[int], list[int]]:
        first = first[: self.title_max_tokens]
        budget = self.max_length - len(first) - 3  # [CLS] first [SEP] body [SEP]
        if len(body) > budget:
            if self.truncation == "head_tail" and budget > 2 * self.tail_tokens:
                body = body[: budget - self.tail_tokens] + body[-self.tail_tokens :]
            else:
                body = body[:budget]
        input_ids = [self.cls_id, *first, self.sep_id, *body, self.sep_id]
        token_type_ids = [0] * (len(first) + 2) + [1] * (len(body) + 1)
        return input_ids, token_type_ids

    def pad(self, encoded: list[tuple[list[int], list[int]]]) -> dict[str, np.ndarray]:
        """Right-pad to the longest row rounded up to pad_to_multiple (at most max_length): (n, seq) int64."""
        longest = max(len(ids) for ids, _ in encoded)
        length = min(self.max_length, -(-longest // self.pad_to_multiple) * self.pad_to_multiple)
        length = max(length, longest)
        arrays = {
            "input_ids": np.full((len(encoded), length), self.pad_id, dtype=np.int64),
            "attention_mask": np.zeros((len(encoded), length), dtype=np.int64),
            "token_type_ids": np.zeros((len(encoded), length), dtype=np.int64),
        }
        for row, (ids, types) in enumerate(encoded):
            arrays["input_ids"][row, : len(ids)] = ids
            arrays["attention_mask"][row, : len(ids)] = 1
            arrays["token_type_ids"][row, : len(ids)] = types
        return arrays

    def finalize(self) -> None:
        self.tokenizer = None
