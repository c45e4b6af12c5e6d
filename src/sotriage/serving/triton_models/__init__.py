"""Python-backend models that `sotriage export --triton-repo` copies into a Triton model repository.

Each module here becomes a `model.py` and runs inside Triton's Python backend, which provides
`triton_python_backend_utils`; they need only numpy and `tokenizers` there, not sotriage.
"""
