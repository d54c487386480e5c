"""Export a training run for serving: `python -m medft export run_dir=... format=merged|gguf|onnx`.

recipe.py runs an export; llama_cpp.py (GGUF converters), onnx.py (graph export and runner),
modelfile.py (Ollama) and model_card.py (README.md) each do one part.
"""
