"""INT8 for OpenVINO: a Q/DQ graph of the unfused model, calibrated on real training questions.

OpenVINO reads QuantizeLinear/DequantizeLinear pairs as "this tensor may run in INT8" and fuses
each wrapped MatMul into an INT8 kernel (AVX-512 VNNI on Zen 5). Everything between the
quantized MatMuls (LayerNorm, GELU, softmax, residual sums) stays in float. The graph is the same
Q/DQ model that TensorRT INT8 engines use (`export.qdq`): symmetric INT8 on both inputs of every
encoder MatMul, per-channel weight scales, embeddings and the classifier head in float.

The file is `onnx/model-int8-qdq.onnx`, run by the `openvino-int8` backend. `sotriage export`
checks its predictions in OpenVINO against PyTorch FP32 like the other INT8 files.
"""

from __future__ import annotations

import logging
import time

from ..data.schema import Question
from ..run_dir import RunDir
from ..runtime.base import ModelFiles
from .qdq import QdqConfig, QuestionCalibrationReader, quantize_qdq
from .static_quant import calibration_questions, model_input_names

log = logging.getLogger(__name__)


def build_openvino_int8(files: ModelFiles, encoder, run: RunDir | None, config: QdqConfig,
                        questions: list[Question] | None = None) -> dict:
    """Write `files.onnx_int8_qdq` from `files.onnx_unfused`; return how it was calibrated and placed.

    Calibration uses `questions` when given, else a seeded sample of the run's training questions
    (an error names the missing dataset when the run has none).
    """
    if questions is None:
        questions = calibration_questions(run, config.calibration_examples).questions
    encoded = encoder.encode(questions[:config.calibration_examples])

    # Batches of (calibration_batch_size, seq) padded to each batch's longest question, the same
    # padding the model receives at inference, so padded positions do not skew the activation ranges.
    reader = QuestionCalibrationReader(encoded, encoder.pad_id, config.calibration_batch_size,
                                       model_input_names(files.onnx_unfused))
    started = time.perf_counter()
    info = quantize_qdq(files.onnx_unfused, files.onnx_int8_qdq, reader, config)
    info["calibration_questions"] = len(encoded)
    info["seconds"] = round(time.perf_counter() - started, 1)
    log.info("built %s in %.0f s", files.onnx_int8_qdq.name, info["seconds"])
    return info
