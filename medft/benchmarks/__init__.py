"""Published medical benchmarks: loaders (hub and native local files) into canonical Records.

One module per benchmark under `medft.benchmarks`, each exposing
`load(path, split, hub_id, hub_config) -> BenchmarkData`; `registry.BENCHMARKS` names them.
Scoring lives in `medft.evaluation`; the prompt strings in `medft.prompts`.
"""
