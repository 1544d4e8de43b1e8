"""Using a trained model: sampling and decoding, one step at a time.

sampling.py   a language model's stateful sampling (temperature, top-k, top-p, stop
              strings, streaming) and beam search over its continuation
decoding.py   greedy, sampled and batched beam search over any step function
stepper.py    a language model one token at a time; weights.py holds its matrices as fp32,
              bf16 or int8
engines.py    what runs each step: torch, or onnxruntime (onnx_engine.py, its graph traced
              by onnx_graph.py and kept by onnx_cache.py)
"""
