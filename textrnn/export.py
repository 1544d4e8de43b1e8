"""`textrnn export`: one recurrent step of a run as an ONNX graph, to run it outside Python
(onnxruntime, a browser, a phone).

The graph is the step that sampling uses, traced by torch's ONNX exporter, so it computes
what `generate` computes; the run's loaded class gives it (`step_graph()`: a language
model's is inference/onnx_graph.py's StepGraph, whose docstring lists the inputs and
outputs). The graph's metadata holds the cell, the sizes and the <pad>/<unk> ids, which a
sampler must never choose.
"""
from pathlib import Path

from .inference.onnx_graph import require_exporter, trace
from .outputs import check_output, write_output
from .tokenization import PAD_ID, UNK_ID

FORMATS = ("onnx",)


def export_onnx(run, out) -> Path:
    """Write the step graph of a loaded run (see the module docstring) to `out`, atomically,
    never over a run's own file."""
    check_output(out, "out")
    graph = run.step_graph()
    require_exporter()
    names = graph.input_names()
    proto = trace(graph, graph.example(), names, ["logits"] + [n + "_out" for n in names[1:]],
                  graph.dynamic_shapes())
    for key, value in {**graph.metadata(), "pad_id": PAD_ID, "unk_id": UNK_ID}.items():
        proto.metadata_props.add(key=key, value=str(value))
    return write_output(out, lambda tmp: Path(tmp).write_bytes(proto.SerializeToString()), "out")
