"""nn.Modules only: the cells and their contract (cells/), the encoder every task shares,
the heads, and the task networks built from them. They know nothing about training or
files; how a model is used one step at a time lives in textrnn.inference."""
from .cells import CELLS, Cell, ElmanRNN, make_cell
from .encoder import RNNEncoder
from .evaluating import evaluating
from .networks import RNNClassifier, RNNLanguageModel

__all__ = ["CELLS", "Cell", "ElmanRNN", "RNNEncoder", "RNNLanguageModel", "RNNClassifier",
           "evaluating", "make_cell"]
