"""The INT8 accuracy gate: measure which node groups cost accuracy and keep them in FP32.

The gate quantizes the whole fused graph, compares it with the FP32 graph on real validation
questions, and stops there when the accuracy drop is within the allowed number of points.
Otherwise it measures each node group's sensitivity by quantizing everything except that group
(leave-one-out) and ranks the groups by what keeping them in FP32 recovers. Then it excludes the
sensitive groups from quantization one at a time, re-measuring after each, until the INT8 graph is
within the allowed drop. When every sensitive group is excluded and the gate still fails, it
raises `GateError`.

Node groups follow the encoder's structure: per layer, the attention block (the fused Attention
node with its Q/K/V projection, and the attention output projection) and the FFN MatMuls; the
embeddings; the pooler and classifier head.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import onnx

from ..data.dataset import LabelledQuestions
from ..encoding import length_sorted_batches
from ..errors import ParityError, SotriageError
from ..io import atomic_path
from ..runtime.onnx_backend import OnnxBackend
from .static_quant import model_input_names, padded_batches

log = logging.getLogger(__name__)

# quantize(out_path, nodes_to_exclude) writes one INT8 candidate of the fused graph.
Quantizer = Callable[[Path, list[str]], Path]

_LAYER = re.compile(r"layer[._](\d+)[./_]")


class GateError(ParityError):
    """INT8 loses more accuracy than allowed even with every sensitive node group kept in FP32.

    `.record` contains the gate's measurements (sensitivity, exclusion steps) for inspection.
    """

    record: dict | None = None


@dataclass
class GateConfig:
    max_drop: float = 0.3  # accuracy points (percentage points) INT8 may lose against FP32
    min_agreement: float | None = None  # optional: min share of questions where INT8 and FP32 predict the same label
    max_logit_error: float | None = None  # optional: max mean |logit difference| against FP32, for users of probabilities
    validation_questions: int = 512
    # Questions (of the validation ones) for the leave-one-out sensitivity runs, which only rank
    # the groups by their logit error; the gate itself always checks all validation questions.
    sensitivity_questions: int = 256
    batch_size: int = 32
    threads: int | None = None
    seed: int = 0
    # Measure every group's sensitivity even when the fully quantized graph already passes.
    always_measure: bool = False

    def __post_init__(self) -> None:
        if not -100 <= self.max_drop <= 100:
            raise SotriageError(f"invalid --int8-max-drop {self.max_drop}: give accuracy points, e.g. 0.3 for 0.3 points")
        if self.min_agreement is not None and not 0 <= self.min_agreement <= 1:
            raise SotriageError(f"invalid min_agreement {self.min_agreement}: use a fraction in [0, 1]")
        if self.max_logit_error is not None and self.max_logit_error < 0:
            raise SotriageError(f"invalid max_logit_error {self.max_logit_error}: use 0 or a positive mean |logit difference|")
        if self.validation_questions < 1:
            raise SotriageError(f"invalid --gate-questions {self.validation_questions}: use 1 or more (512 is the default)")
        if self.sensitivity_questions < 1:
            raise SotriageError(f"invalid sensitivity_questions {self.sensitivity_questions}: use 1 or more (256 is the default)")
        if self.batch_size < 1:
            raise SotriageError(f"invalid batch_size {self.batch_size}: use 1 or more")


@dataclass
class NodeGroup:
    name: str  # "layer.3.attention", "layer.3.ffn.intermediate", "layer.3.ffn.output", "embeddings", "head" or "other"
    nodes: list[str] = field(default_factory=list)


# --- node groups ----------------------------------------------------------------------------

def quantized_nodes(fp32_path: str | Path, int8_path: str | Path, op_types: Sequence[str]) -> list[str]:
    """Names of the FP32 graph's nodes of `op_types` that the quantizer replaced or rewired.

    A node counts as quantized when the INT8 graph has no node with its name, type and inputs: the
    QOperator and dynamic formats rename it (MatMul -> QLinearMatMul, "_quant"), and the QDQ format
    keeps it but feeds it from DequantizeLinear outputs.
    """
    fp32 = onnx.load(str(fp32_path), load_external_data=False)
    int8 = onnx.load(str(int8_path), load_external_data=False)
    unchanged = {(node.name, node.op_type, tuple(node.input)) for node in int8.graph.node}
    return [
        node.name for node in fp32.graph.node
        if node.op_type in op_types and node.name and (node.name, node.op_type, tuple(node.input)) not in unchanged
    ]


def group_name(node: onnx.NodeProto) -> str:
    """Return the node group of a node of the fused BERT graph, from its type, name and outputs."""
    text = " ".join([node.name, *node.output])
    layer = _LAYER.search(text)
    if layer:
        if node.op_type in ("Attention", "QAttention") or "/attention/" in text:
            part = "attention"
        elif "/intermediate/" in text:
            part = "ffn.intermediate"
        else:
            part = "ffn.output"
        return f"layer.{int(layer.group(1))}.{part}"
    if node.op_type == "EmbedLayerNormalization" or "embeddings" in text:
        return "embeddings"
    if "pooler" in text or "classifier" in text:
        return "head"
    return "other"


def node_groups(fp32_path: str | Path, names: Sequence[str]) -> list[NodeGroup]:
    """Group the nodes `names` of the FP32 graph, in graph order."""
    selected = set(names)
    groups: dict[str, NodeGroup] = {}
    for node in onnx.load(str(fp32_path), load_external_data=False).graph.node:
        if node.name in selected:
            name = group_name(node)
            groups.setdefault(name, NodeGroup(name)).nodes.append(node.name)
    return list(groups.values())


# --- measurement ----------------------------------------------------------------------------

class ValidationSet:
    """Encoded validation questions, padded once, with the FP32 graph's logits computed once."""

    def __init__(self, questions: LabelledQuestions, encoder, fp32_path: str | Path, config: GateConfig):
        self._prepare(encoder.encode(questions.questions), np.asarray(questions.labels), encoder.pad_id,
                      model_input_names(fp32_path), config)
        self.fp32_logits = self.logits(fp32_path)  # (n, num_labels), the reference for every candidate
        self.fp32_accuracy = float((self.fp32_logits.argmax(1) == self.labels).mean())

    def _prepare(self, encoded: list, labels: np.ndarray, pad_id: int, input_names: list[str], config: GateConfig) -> None:
        self.encoded = encoded
        self.size = len(encoded)
        self.labels = labels
        self.pad_id = pad_id
        self.input_names = input_names
        self.config = config
        self.order = length_sorted_batches([len(item) for item in encoded], config.batch_size)
        self.batches = padded_batches(encoded, pad_id, config.batch_size, input_names)

    def subset(self, n: int) -> "ValidationSet":
        """Return `n` of these questions spread evenly over them, reusing the cached FP32 logits."""
        if n >= self.size:
            return self
        index = np.linspace(0, self.size - 1, n).round().astype(int)
        part = object.__new__(ValidationSet)
        part._prepare([self.encoded[i] for i in index], self.labels[index], self.pad_id, self.input_names, self.config)
        part.fp32_logits = self.fp32_logits[index]
        part.fp32_accuracy = float((part.fp32_logits.argmax(1) == part.labels).mean())
        return part

    def logits(self, path: str | Path) -> np.ndarray:
        backend = OnnxBackend(path, self.config.threads, name=Path(path).stem)
        try:
            outputs = [backend(batch) for batch in self.batches]
        finally:
            backend.close()
        logits = np.zeros((self.size, outputs[0].shape[1]), dtype=np.float32)
        for index, batch_logits in zip(self.order, outputs):
            logits[index] = batch_logits
        return logits

    def measure(self, path: str | Path) -> dict:
        """Compare the model at `path` with FP32: accuracy drop in points, argmax agreement, logit differences."""
        logits = self.logits(path)
        predicted = logits.argmax(1)
        accuracy = float((predicted == self.labels).mean())
        difference = np.abs(logits - self.fp32_logits)
        flipped = int((predicted != self.fp32_logits.argmax(1)).sum())
        return {
            "accuracy": accuracy,
            "accuracy_drop_points": round((self.fp32_accuracy - accuracy) * 100, 4),
            # Each flipped prediction moves accuracy by at most one question, so sqrt(flipped)/n
            # bounds the standard error of the drop when flips are as likely to help as to hurt.
            "drop_standard_error_points": round(float(100 * np.sqrt(flipped) / self.size), 4),
            "argmax_agreement": float((predicted == self.fp32_logits.argmax(1)).mean()),
            "flipped": flipped,
            "mean_abs_logit_diff": float(difference.mean()),
            "max_abs_logit_diff": float(difference.max()),
        }


def passes(measurement: dict, config: GateConfig) -> bool:
    # A small epsilon: drops are multiples of 100/n points and must not fail on rounding.
    if measurement["accuracy_drop_points"] > config.max_drop + 1e-9:
        return False
    if config.min_agreement is not None and measurement["argmax_agreement"] < config.min_agreement - 1e-12:
        return False
    return config.max_logit_error is None or measurement["mean_abs_logit_diff"] <= config.max_logit_error


def sensitivity(full: dict, without_group: dict) -> dict:
    """Compute what keeping one group in FP32 recovers, relative to the fully quantized graph."""
    return {
        "accuracy_recovered_points": round(full["accuracy_drop_points"] - without_group["accuracy_drop_points"], 4),
        "flips_recovered": full["flipped"] - without_group["flipped"],
        "logit_error_reduction": full["mean_abs_logit_diff"] - without_group["mean_abs_logit_diff"],
    }


def is_sensitive(entry: dict) -> bool:
    """Return whether keeping the group in FP32 brings the logits closer to FP32."""
    return entry["sensitivity"]["logit_error_reduction"] > 0


def ranking_key(entry: dict) -> tuple:
    # The logit error ranks first because it is continuous. Accuracy on a few hundred questions
    # moves in steps of 100/n points, and single flips in either direction are mostly noise: on
    # MiniLM, leaving out one group changed accuracy by up to 0.8 points in both directions.
    gained = entry["sensitivity"]
    return (-gained["logit_error_reduction"], -gained["flips_recovered"], -gained["accuracy_recovered_points"])


# --- the gate -------------------------------------------------------------------------------

def run_gate(label: str, quantize: Quantizer, fp32_path: str | Path, out_path: str | Path,
             validation: ValidationSet, config: GateConfig, op_types: Sequence[str]) -> dict:
    """Quantize `fp32_path` into `out_path` with the fewest exclusions that meet the gate.

    `label` names the file in messages ("onnx-int8"); `op_types` are the operator types the
    quantizer handles, for finding which nodes it changed. Returns the record for
    onnx/quantization.json; raises GateError (and writes nothing) when the gate cannot be met.
    """
    with tempfile.TemporaryDirectory(prefix="sotriage-gate-") as work:
        candidate = Path(work) / "candidate.onnx"
        candidate_excludes: list[str] = []

        def measure_excluding(excluded: list[str]) -> dict:
            quantize(candidate, excluded)
            candidate_excludes[:] = excluded
            return validation.measure(candidate)

        def write_output(excluded: list[str]) -> None:
            # The last measured candidate is the requested file unless later sensitivity runs replaced it.
            if candidate_excludes != excluded:
                quantize(candidate, excluded)
            with atomic_path(out_path) as tmp:
                shutil.copyfile(candidate, tmp)

        full = measure_excluding([])
        groups = node_groups(fp32_path, quantized_nodes(fp32_path, candidate, op_types))
        record = {
            "fp32_accuracy": validation.fp32_accuracy,
            "quantized_groups": {group.name: group.nodes for group in groups},
            "full": full,
            "sensitivity": [],
            "steps": [],
            "excluded": [],
        }
        log.info("%s fully quantized: %s", label, full)

        if passes(full, config) and not config.always_measure:
            record.update(passed=True, final=full)
            write_output([])
            return record

        record["sensitivity"] = measure_sensitivity(label, groups, candidate, validation.subset(config.sensitivity_questions), quantize)
        if passes(full, config):
            record.update(passed=True, final=full)
            write_output([])
            return record

        final, excluded = exclude_until_within(label, record, full, measure_excluding, config)
        record["final"] = final
        if not passes(final, config):
            raise gate_error(label, record, final, config, validation.size, len(groups))
        record["passed"] = True
        write_output(excluded)
    return record


def measure_sensitivity(label: str, groups: list[NodeGroup], full_candidate: Path, questions: ValidationSet,
                        quantize: Quantizer) -> list[dict]:
    """Leave-one-out sensitivity of each group on `questions`: quantize everything except it and compare.

    `full_candidate` is the fully quantized graph; the runs quantize into a sibling file.
    """
    from tqdm.auto import tqdm

    full = questions.measure(full_candidate)
    without_path = full_candidate.with_name("without-group.onnx")
    entries = []
    for group in tqdm(groups, desc=f"{label} sensitivity", unit="group", leave=False):
        quantize(without_path, group.nodes)
        without = questions.measure(without_path)
        entry = {"group": group.name, "nodes": group.nodes, "questions": questions.size,
                 "without_group": without, "sensitivity": sensitivity(full, without)}
        log.info("%s: keeping %s in FP32 gives %s", label, group.name, entry["sensitivity"])
        entries.append(entry)
    return entries


def exclude_until_within(label: str, record: dict, full: dict, measure_excluding, config: GateConfig) -> tuple[dict, list[str]]:
    """Exclude the most sensitive groups one at a time until the gate passes; return the last measurement."""
    ranked = sorted((entry for entry in record["sensitivity"] if is_sensitive(entry)), key=ranking_key)
    excluded: list[str] = []
    current = full
    for entry in ranked:
        excluded = excluded + entry["nodes"]
        current = measure_excluding(excluded)
        gained = entry["sensitivity"]
        record["excluded"].append({
            "group": entry["group"],
            "nodes": entry["nodes"],
            "reason": (
                f"keeping it alone in FP32 cut the mean |logit difference| against FP32 by "
                f"{gained['logit_error_reduction']:.4f} on {entry['questions']} questions "
                f"(flipped predictions recovered: {gained['flips_recovered']:+d}, "
                f"accuracy recovered: {gained['accuracy_recovered_points']:+.2f} points)"
            ),
        })
        record["steps"].append({"excluded_groups": [e["group"] for e in record["excluded"]], **current})
        log.info("%s with %s in FP32: %s", label, [e["group"] for e in record["excluded"]], current)
        if passes(current, config):
            break
    return current, excluded


def gate_error(label: str, record: dict, final: dict, config: GateConfig, questions: int, groups: int) -> GateError:
    drop = final["accuracy_drop_points"]
    problems = []
    fixes = []
    if drop > config.max_drop + 1e-9:
        problems.append(f"it loses {drop:.2f} accuracy points against FP32 on {questions} validation questions, "
                        f"{drop - config.max_drop:.2f} points more than the allowed {config.max_drop:.2f} "
                        f"(standard error of the drop up to {final['drop_standard_error_points']:.2f} points; "
                        "--gate-questions sets how many questions it uses)")
        fixes.append(f"raise --int8-max-drop to at least {drop:.2f}")
    if config.min_agreement is not None and final["argmax_agreement"] < config.min_agreement:
        problems.append(f"it agrees with FP32 on {final['argmax_agreement']:.1%} of {questions} validation questions, "
                        f"below the minimum of {config.min_agreement:.1%}")
        fixes.append(f"lower the minimum agreement to {final['argmax_agreement']:.3f}")
    if config.max_logit_error is not None and final["mean_abs_logit_diff"] > config.max_logit_error:
        problems.append(f"its mean |logit difference| against FP32 is {final['mean_abs_logit_diff']:.4g}, "
                        f"above the maximum of {config.max_logit_error:.4g}")
        fixes.append(f"raise the maximum logit error to {final['mean_abs_logit_diff']:.4g}")
    error = GateError(
        f"{label}: INT8 fails the accuracy gate with {len(record['excluded'])} of {groups} node groups kept in FP32: "
        f"{'; '.join(problems)}. Nothing was written. To accept it, {' or '.join(fixes)}, or skip the gate with --no-int8-gate."
    )
    error.record = record
    return error


def gate_summary(record: dict) -> dict:
    """The few numbers of a gate record that export.json and the CLI show."""
    return {
        "passed": record.get("passed", False),
        "excluded_groups": [entry["group"] for entry in record.get("excluded", [])],
        "accuracy_drop_points": record["final"]["accuracy_drop_points"],
        "argmax_agreement": record["final"]["argmax_agreement"],
    }


# --- building the INT8 files ----------------------------------------------------------------

def dynamic_op_types() -> list[str]:
    from onnxruntime.quantization.registry import IntegerOpsRegistry

    # The dynamic quantizer rewrites Gemm as MatMul + Add before quantizing, so Gemm counts too.
    return sorted(set(IntegerOpsRegistry) | {"Gemm"})


def quantize_dynamic_excluding(fused_path: Path, out_path: Path, per_channel: bool, excluded: Sequence[str]) -> Path:
    """Dynamic INT8 of the fused graph with the nodes `excluded` kept in FP32."""
    from .quantize import quantize_dynamic_int8
    from .static_quant import quiet_quantizer

    # A Gemm named X becomes the MatMul "X_MatMul" before the exclusion list is applied.
    names = [*excluded, *(f"{name}_MatMul" for name in excluded)]
    with quiet_quantizer():
        return quantize_dynamic_int8(fused_path, out_path, per_channel=per_channel, nodes_to_exclude=names)


def gate_validation_set(run, encoder, fp32_path: Path, config: GateConfig) -> tuple[ValidationSet | None, str | None]:
    """Return the gate's validation questions with cached FP32 logits, or None and the reason."""
    from .static_quant import run_split, sample_questions

    questions = run_split(run, "validation")
    if questions is None or len(questions) == 0:
        return None, "the run has no validation questions (its dataset was not found, or it is not a run folder)"
    sample = sample_questions(questions, config.validation_questions, config.seed)
    return ValidationSet(sample, encoder, fp32_path, config), None


def build_int8_files(files, encoder, run, per_channel: bool, static, gate: GateConfig | None,
                     fp32_nodes: Sequence[str] = ()) -> dict:
    """Write model-int8.onnx, and model-int8-static.onnx when `static` is a StaticQuantConfig, into
    `files.onnx_dir`, through the accuracy gate when `gate` is set and the run has validation data.

    Without the gate, `fp32_nodes` (node names a gate chose earlier for the same model) stay in FP32
    in model-int8.onnx.

    Writes onnx/quantization.json and returns its content. Raises GateError when a file cannot
    meet the gate; the caller builds everything in a temporary folder, so nothing is left behind.
    """
    from ..io import write_json
    from .static_quant import prepare_static_int8, quantize_static_int8, quantized_operator_counts, static_op_types

    validation, skipped = (None, "disabled with --no-int8-gate") if gate is None else gate_validation_set(run, encoder, files.onnx_fp32, gate)
    if gate is not None and validation is None:
        log.warning("INT8 accuracy gate skipped: %s", skipped)
    report = {"gate": gate_settings(gate, validation, skipped), "files": {}}

    def quantize_dynamic(out: Path, excluded: list[str]) -> Path:
        return quantize_dynamic_excluding(files.onnx_fp32, out, per_channel, excluded)

    entry = {"file": files.onnx_int8.name, "method": "dynamic", "settings": {"per_channel": per_channel, "weight_type": "int8"}}
    if validation is not None:
        entry["gate"] = run_gate("onnx-int8", quantize_dynamic, files.onnx_fp32, files.onnx_int8, validation, gate, dynamic_op_types())
    else:
        quantize_dynamic(files.onnx_int8, list(fp32_nodes))
        entry["fp32_nodes"] = list(fp32_nodes)
    entry["quantized_operators"] = quantized_operator_counts(files.onnx_int8)
    report["files"]["onnx-int8"] = entry

    if static is not None:
        with tempfile.TemporaryDirectory(prefix="sotriage-static-") as work:
            typed, cache, calibration = prepare_static_int8(files.onnx_fp32, encoder, run, static, work)

            def quantize_static(out: Path, excluded: list[str]) -> Path:
                return quantize_static_int8(typed, out, cache, static, excluded)

            entry = {"file": files.onnx_int8_static.name, "method": "static", "settings": static.to_dict(), "calibration": calibration}
            if validation is not None:
                entry["gate"] = run_gate("onnx-int8-static", quantize_static, files.onnx_fp32, files.onnx_int8_static,
                                         validation, gate, static_op_types(static))
            else:
                quantize_static(files.onnx_int8_static, [])
        entry["quantized_operators"] = quantized_operator_counts(files.onnx_int8_static)
        report["files"]["onnx-int8-static"] = entry

    write_json(Path(files.onnx_dir) / "quantization.json", report)
    return report


def gate_settings(gate: GateConfig | None, validation: ValidationSet | None, skipped: str | None) -> dict:
    if validation is None:
        return {"enabled": False, "reason": skipped}
    return {
        "enabled": True,
        **asdict(gate),
        "split": "validation",
        "questions": validation.size,
        "fp32_accuracy": validation.fp32_accuracy,
        "reference": "ONNX Runtime FP32, fused graph",
    }
