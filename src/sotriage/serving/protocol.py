"""The wire format shared by the PyTriton server, the fleet repository's ensemble and the client.

Every tensor has a leading batch dimension (Triton's `max_batch_size` > 0), so a request with
n questions sends each input with shape (n, 1):

    title, body, tags              BYTES (n, 1), UTF-8. body is Stack Overflow Markdown (cleaned
                                   on the server); tags are space- or comma-separated.
    reputation, answer_count,      FP32 (n, 1), optional; NaN means unknown. Only the PyTriton
    account_age_days               server takes them, and the current text models ignore them.

    label                          BYTES (n, 1), the most probable label name
    probabilities                  FP32 (n, num_labels), softmax over the logits
    label_names                    BYTES (n, num_labels), the label of each probability column
"""

from __future__ import annotations

import math
import re
import uuid
from typing import Mapping

import numpy as np

from ..data.schema import Question
from ..data.text import clean_markdown
from ..errors import InputError

DEFAULT_MODEL_NAME = "sotriage"
TEXT_INPUTS = ("title", "body", "tags")
METADATA_INPUTS = ("reputation", "answer_count", "account_age_days")
OUTPUT_LABEL = "label"
OUTPUT_PROBABILITIES = "probabilities"
OUTPUT_LABEL_NAMES = "label_names"
OUTPUTS = (OUTPUT_LABEL, OUTPUT_PROBABILITIES, OUTPUT_LABEL_NAMES)

# Stack Overflow caps a body at 30,000 characters; UTF-8 needs up to 4 bytes per character.
DEFAULT_MAX_BODY_BYTES = 131_072
# The client sends its request id as this request parameter; the server also accepts an
# X-Request-ID header, which Triton forwards as a parameter (see server.HEADER_FORWARD_PATTERN).
REQUEST_ID_PARAMETER = "request_id"
REQUEST_ID_HEADER = "x-request-id"
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class RequestError(InputError):
    """An inference request that the server rejects: the message names the input and the fix."""


def check_model_name(name: str) -> str:
    if not _MODEL_NAME.match(name or ""):
        raise InputError(f"invalid model name {name!r}: use letters, digits, '_', '.' and '-', starting with a letter or digit")
    return name


def request_id_from(parameters: Mapping[str, object] | None) -> str:
    """Return the client's request id (parameter or forwarded X-Request-ID header), else a new one."""
    for key, value in (parameters or {}).items():
        if key.lower() in (REQUEST_ID_PARAMETER, REQUEST_ID_HEADER) and str(value).strip():
            return str(value).strip()[:128]
    return f"server-{uuid.uuid4().hex[:12]}"


def decode_text(name: str, value: object, row: int, max_bytes: int) -> str:
    """Decode one BYTES element to text, rejecting invalid UTF-8 and oversized values."""
    if isinstance(value, str):  # numpy may hand back str for some encodings; treat as decoded
        raw = value.encode("utf-8")
    elif isinstance(value, (bytes, bytearray, np.bytes_)):
        raw = bytes(value)
    else:
        raise RequestError(f"input '{name}' row {row}: expected a UTF-8 string (BYTES), got {type(value).__name__}")
    if len(raw) > max_bytes:
        raise RequestError(f"input '{name}' row {row} is {len(raw)} bytes, over the server's limit of {max_bytes} bytes "
                           f"(--max-body-bytes): shorten it or raise the limit")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RequestError(f"input '{name}' row {row} is not valid UTF-8 (byte {error.start}: {raw[error.start:error.start + 4]!r}): "
                           "send UTF-8 encoded text") from None


def _column(inputs: Mapping[str, np.ndarray], name: str, rows: int) -> np.ndarray:
    array = np.asarray(inputs[name])
    if array.shape[0] != rows or array.size != rows:
        raise RequestError(f"input '{name}' has shape {list(array.shape)}; expected [{rows}, 1], one value per question, "
                           f"like input '{TEXT_INPUTS[0]}'")
    return array.reshape(rows)


def _metadata_value(name: str, value: float, row: int) -> float | None:
    number = float(value)
    if math.isnan(number):
        return None
    # Negative values are real data, not errors: the Kaggle questions carry reputations of -1 and
    # below at post time, and account ages below 0 where the post predates the account record.
    # The model's features clip them at 0.
    if math.isinf(number):
        raise RequestError(f"input '{name}' row {row} is {number}: send a finite value, or NaN when unknown")
    return number


def questions_from_inputs(inputs: Mapping[str, np.ndarray], max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> list[Question]:
    """Build one Question per row of a request's inputs; raises RequestError naming what is wrong."""
    missing = [name for name in TEXT_INPUTS if name not in inputs]
    if missing:
        raise RequestError(f"missing input(s) {', '.join(missing)}: send {', '.join(TEXT_INPUTS)} as BYTES with shape [n, 1]")
    rows = int(np.asarray(inputs[TEXT_INPUTS[0]]).shape[0])
    if rows == 0:
        raise RequestError("empty batch: the request has 0 questions; send at least one row per input")
    columns = {name: _column(inputs, name, rows) for name in TEXT_INPUTS}
    metadata = {name: _column(inputs, name, rows) for name in METADATA_INPUTS if name in inputs}

    questions = []
    for row in range(rows):
        title, body, tags = (decode_text(name, columns[name][row], row, max_body_bytes) for name in TEXT_INPUTS)
        if not title.strip() and not body.strip():
            raise RequestError(f"row {row}: title and body are both empty; send the question's text")
        extra = {name: _metadata_value(name, column[row], row) for name, column in metadata.items()}
        questions.append(Question(id=str(row), title=title, body=clean_markdown(body),
                                  tags=tags.replace(",", " ").split(), **extra))
    return questions


def text_column(values: list[str]) -> np.ndarray:
    """Encode strings as a BYTES input of shape (n, 1)."""
    return np.array([[value.encode("utf-8")] for value in values], dtype=np.object_)
