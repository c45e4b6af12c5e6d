"""Serving through Triton Inference Server.

`server` runs the classifier as a Python callable in Triton through PyTriton (`sotriage serve`),
`triton_repo` writes a model repository for the official Triton container (`sotriage export
--triton-repo`), `client` sends questions to either server (`sotriage predict --url`), and
`loadtest` measures a running server (`sotriage loadtest`).
"""
