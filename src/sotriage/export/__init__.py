"""Export stage: ONNX export, ONNX Runtime BERT fusions, INT8 quantization, parity checks."""
