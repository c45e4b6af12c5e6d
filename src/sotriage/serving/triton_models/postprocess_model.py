"""Triton Python model `sotriage_postprocess`: logits (FP32) in; label, probabilities and label names out.

Copied as `model.py` into the repository by `sotriage export --triton-repo`. The label names come
from the config parameter `label_names` (a JSON list), in the order of the logit columns.
"""

from __future__ import annotations

import json

import numpy as np
import triton_python_backend_utils as pb_utils  # provided by Triton's Python backend


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        names = json.loads(config["parameters"]["label_names"]["string_value"])
        self.label_names = np.array([name.encode("utf-8") for name in names], dtype=np.object_)

    def execute(self, requests: list) -> list:
        responses = []
        for request in requests:
            logits = pb_utils.get_input_tensor_by_name(request, "logits").as_numpy()  # (n, num_labels)
            probabilities = softmax(logits.astype(np.float32)).astype(np.float32)
            labels = self.label_names[probabilities.argmax(axis=1)].reshape(-1, 1)
            names = np.tile(self.label_names, (len(logits), 1))
            responses.append(pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor("label", labels.astype(np.object_)),
                pb_utils.Tensor("probabilities", probabilities),
                pb_utils.Tensor("label_names", names.astype(np.object_)),
            ]))
        return responses
