from .elman import ElmanRNN
from .encoder import RNNEncoder, detach_state
from .networks import RNNClassifier, RNNLanguageModel, build_model

__all__ = ["ElmanRNN", "RNNEncoder", "RNNLanguageModel", "RNNClassifier", "build_model",
           "detach_state"]
