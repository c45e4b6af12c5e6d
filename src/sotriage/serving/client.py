"""A KServe v2 client for both servers: `sotriage serve` (PyTriton) and the fleet repository's ensemble.

Both take title, body and tags as BYTES (n, 1) and return label, probabilities and label_names
(see protocol.py). The asker metadata inputs are sent only when the server's model declares them.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Sequence
from urllib.parse import urlparse

import numpy as np

from ..data.schema import Question
from ..errors import SotriageError, missing_extra
from ..runtime.classifier import Prediction
from .protocol import (
    DEFAULT_MODEL_NAME,
    METADATA_INPUTS,
    OUTPUT_LABEL,
    OUTPUT_LABEL_NAMES,
    OUTPUT_PROBABILITIES,
    REQUEST_ID_PARAMETER,
    TEXT_INPUTS,
    text_column,
)

log = logging.getLogger(__name__)

PROTOCOLS = ("http", "grpc")


class ServerError(SotriageError):
    """The server rejected a request or could not be reached."""


def server_message(error: Exception) -> str:
    """Return the useful part of a Triton error; PyTriton sends a whole Python traceback."""
    text = str(error).replace("\\n", "\n")
    for line in reversed(text.splitlines()):
        if "RequestError: " in line:
            return line.split("RequestError: ", 1)[1].strip()
    return text.strip()[:1000]


@dataclass
class ClientConfig:
    url: str
    protocol: str = "http"
    model_name: str = DEFAULT_MODEL_NAME
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise SotriageError(f"invalid protocol {self.protocol!r}: use http or grpc")
        if self.timeout_s <= 0:
            raise SotriageError(f"invalid timeout {self.timeout_s}: use a positive number of seconds")

    def address(self) -> str:
        """Return host:port, which is what tritonclient takes (no scheme)."""
        parsed = urlparse(self.url if "://" in self.url else f"//{self.url}")
        if not parsed.hostname:
            raise SotriageError(f"invalid server URL {self.url!r}: use host:port or http://host:port, e.g. 127.0.0.1:8000")
        default_port = 8000 if self.protocol == "http" else 8001
        host = f"[{parsed.hostname}]" if ":" in parsed.hostname else parsed.hostname
        return f"{host}:{parsed.port or default_port}"


class TritonClassifierClient:
    """Send questions to a Triton server and return Predictions, like Classifier.predict."""

    def __init__(self, config: ClientConfig):
        self.config = config
        try:
            if config.protocol == "http":
                import tritonclient.http as module
            else:
                import tritonclient.grpc as module
        except ImportError:
            raise missing_extra("tritonclient", "serve") from None
        self._module = module
        if config.protocol == "http":
            self._client = module.InferenceServerClient(config.address(), connection_timeout=config.timeout_s,
                                                        network_timeout=config.timeout_s)
        else:
            self._client = module.InferenceServerClient(config.address())
        self._input_names: set[str] | None = None

    def input_names(self) -> set[str]:
        """Return the model's input names (read once from the server's model metadata)."""
        if self._input_names is None:
            try:
                metadata = self._client.get_model_metadata(self.config.model_name)
            except Exception as error:  # tritonclient raises InferenceServerException or connection errors
                raise ServerError(f"could not read model {self.config.model_name!r} from {self.config.url} "
                                  f"({self.config.protocol}): {server_message(error)}. Is the server running, "
                                  "and is the model name right (--model-name)?") from None
            inputs = metadata["inputs"] if isinstance(metadata, dict) else metadata.inputs
            self._input_names = {item["name"] if isinstance(item, dict) else item.name for item in inputs}
        return self._input_names

    def build_inputs(self, questions: Sequence[Question]) -> list:
        n = len(questions)
        columns = {
            "title": text_column([q.title for q in questions]),
            "body": text_column([q.body for q in questions]),
            "tags": text_column([" ".join(q.tags) for q in questions]),
        }
        available = self.input_names()
        for name in METADATA_INPUTS:
            values = [getattr(q, name) for q in questions]
            if name in available and any(value is not None for value in values):
                columns[name] = np.array([[np.nan if v is None else float(v)] for v in values], dtype=np.float32)
        inputs = []
        for name, array in columns.items():
            datatype = "BYTES" if name in TEXT_INPUTS else "FP32"
            tensor = self._module.InferInput(name, [n, 1], datatype)
            tensor.set_data_from_numpy(array)
            inputs.append(tensor)
        return inputs

    def infer_raw(self, questions: Sequence[Question], request_id: str | None = None) -> dict[str, np.ndarray]:
        """Send one request and return its output arrays by name."""
        request_id = request_id or f"client-{uuid.uuid4().hex[:12]}"
        outputs = [self._module.InferRequestedOutput(name) for name in (OUTPUT_LABEL, OUTPUT_PROBABILITIES, OUTPUT_LABEL_NAMES)]
        kwargs = {"request_id": request_id, "parameters": {REQUEST_ID_PARAMETER: request_id}, "outputs": outputs}
        if self.config.protocol == "grpc":
            kwargs["client_timeout"] = self.config.timeout_s
        try:
            result = self._client.infer(self.config.model_name, self.build_inputs(questions), **kwargs)
        except self._exception_types() as error:
            raise ServerError(f"request {request_id} failed: {server_message(error)}") from None
        return {name: result.as_numpy(name) for name in (OUTPUT_LABEL, OUTPUT_PROBABILITIES, OUTPUT_LABEL_NAMES)}

    def predict(self, questions: Sequence[Question], request_id: str | None = None) -> list[Prediction]:
        if not questions:
            return []
        outputs = self.infer_raw(questions, request_id)
        names = [name.decode("utf-8") for name in outputs[OUTPUT_LABEL_NAMES][0]]
        predictions = []
        for label, row in zip(outputs[OUTPUT_LABEL].reshape(-1), outputs[OUTPUT_PROBABILITIES]):
            predictions.append(Prediction(label.decode("utf-8"), {name: float(p) for name, p in zip(names, row)}))
        return predictions

    def _exception_types(self) -> tuple[type[BaseException], ...]:
        from tritonclient.utils import InferenceServerException

        return (InferenceServerException, ConnectionError, OSError)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "TritonClassifierClient":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
