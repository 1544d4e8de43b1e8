from .cells import CELLS, make_cell
from .elman import ElmanRNN
from .encoder import RNNEncoder, detach_state
from .networks import RNNClassifier, RNNLanguageModel

__all__ = ["CELLS", "ElmanRNN", "RNNEncoder", "RNNLanguageModel", "RNNClassifier", "detach_state",
           "make_cell"]
