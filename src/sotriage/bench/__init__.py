"""`sotriage bench`: CPU inference throughput and latency of every backend, against the machine's GEMM ceilings.

Modules, in the order a run uses them:

- config: BenchConfig (the run's selections) and the names of models, settings and backends.
- workloads: the real questions a run measures, and their source.
- models: the shipped classifier and a BERT-base stand-in, with their ONNX files.
- settings: the five settings as batch plans (reference, sorted32, production, latency, end2end).
- ceilings: FP32 and INT8 GEMM ceilings and the FLOP cost model of a BERT encoder.
- environment: hardware, versions and thread settings.
- timing and runner: warm-up, median of passes, latency percentiles, speedups.
- levers: extra experiments behind `--levers` (token budgets, spinning, threads and more).
- report and plots: bench.json, bench.md, the terminal table and the PNG charts.
"""
