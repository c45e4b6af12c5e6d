"""The `--triton-repo` options of `sotriage export`: write a Triton model repository for a fleet."""

from __future__ import annotations

import click

from ..run_dir import RunDir

TRITON_REPO_OPTIONS = [
    click.option("--triton-repo", type=click.Path(file_okay=False), default=None,
                 help="Also write a Triton model repository (tokenizer + ONNX + ensemble) to this folder. "
                      "Reuses RUN_DIR/onnx when it already has the needed file, skipping the re-export."),
    click.option("--triton-precision", type=click.Choice(["int8", "fp32"]), default="int8", show_default=True,
                 help="ONNX file in the repository: model-int8.onnx or model-fused.onnx (FP32; use it for GPUs)."),
    click.option("--triton-instances", type=int, default=1, show_default=True,
                 help="Instances of each model per server (instance_group count)."),
    click.option("--triton-kind", type=click.Choice(["cpu", "gpu"]), default="cpu", show_default=True,
                 help="Where the ONNX model's instances run (KIND_CPU or KIND_GPU); the Python models always run on CPU."),
]


def triton_repo_options(command):
    for option in reversed(TRITON_REPO_OPTIONS):
        command = option(command)
    return command


def _repo_config(precision: str, instances: int, kind: str):
    from ..serving.triton_repo import TritonRepoConfig

    return TritonRepoConfig(precision=precision, instances=instances, kind=kind)


def triton_onnx_ready(run: RunDir, repo: str | None, precision: str, instances: int, kind: str) -> bool:
    """Return True when --triton-repo was given and RUN_DIR/onnx already has the file it needs.

    Validates the --triton-* options first, so a bad value fails before a slow export.
    """
    if not repo:
        return False
    _repo_config(precision, instances, kind)
    path = run.onnx_int8 if precision == "int8" else run.onnx_fused
    if path.is_file():
        click.echo(f"reusing {path} for the Triton repository (run `sotriage export {run.root}` without --triton-repo to re-export)")
        return True
    return False


def write_triton_repo_step(run: RunDir, repo: str | None, precision: str, instances: int, kind: str) -> None:
    """Write the repository when --triton-repo was given, and print how to serve it."""
    if not repo:
        return
    from ..runtime.model_ref import resolve_model
    from ..serving.triton_repo import write_triton_repo

    config = _repo_config(precision, instances, kind)
    out = write_triton_repo(resolve_model(run.root), repo, config)
    click.echo(f"wrote Triton model repository {out} (ensemble '{config.model_name}'); serve it with: "
               f"tritonserver --model-repository={out.resolve()}  (see {out}/README.md)")
