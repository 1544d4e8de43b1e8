"""The recurrent cells. `CELLS` maps a name (EncoderConfig.cell) to a layer class that keeps
the contract in contract.py; a new cell is one module plus one entry here (or, from outside
the package, an entry added to this dict before settings are checked)."""
from ...errors import ConfigError
from ...plugins import load
from .contract import Cell, DecoderStep
from .elman import ElmanRNN
from .mingru import MinGRU
from .minlstm import MinLSTM
from .mlstm import MLSTM
from .rglru import RGLRU
from .torch_kinds import GRU, LSTM, RNN

CELLS: dict[str, type] = {"lstm": LSTM, "gru": GRU, "rnn": RNN, "elman": ElmanRNN,
                          "mingru": MinGRU, "minlstm": MinLSTM, "rglru": RGLRU,
                          "mlstm": MLSTM}


def cell_class(kind: str) -> type:
    if kind not in CELLS:
        load("textrnn.cells", CELLS)  # a cell of another package, declared as an entry point
    if kind not in CELLS:
        raise ConfigError(f"unknown cell {kind!r}; choose one of {', '.join(CELLS)}")
    return CELLS[kind]


def make_cell(kind: str, input_size: int, hidden_size: int, activation: str = "tanh",
              bidirectional: bool = False, settings=None) -> Cell:
    """One batch-first recurrent layer of the given kind: (B, T, input_size) -> (B, T, D*H).
    A cell that declares `takes_settings` (names of EncoderConfig settings, such as mLSTM's heads)
    takes them from `settings` (an EncoderConfig), else its own defaults."""
    cls = cell_class(kind)
    options = {name: getattr(settings, name) for name in getattr(cls, "takes_settings", ())
               if settings is not None and hasattr(settings, name)}
    return cls(input_size, hidden_size, activation, bidirectional, **options)


def check_activation(kind: str, activation: str, decoder: bool = False) -> None:
    """One line unless the cell (or, with `decoder`, its decoder step) takes `activation`."""
    cls = cell_class(kind)
    allowed = (cls.decoder_activations or cls.activations) if decoder else cls.activations
    if allowed is not None and activation not in allowed:
        where = "a decoder's step" if decoder else "it"
        raise ConfigError(f"the {kind} cell has no {activation} activation ({where} takes "
                          f"{', '.join(allowed)}); choose one of those, or another cell")


def check_front_end(kind: str, conv_kernel: int) -> None:
    """One line if an encoder's convolution would sit in front of a cell with its own."""
    if conv_kernel and getattr(cell_class(kind), "has_convolution", False):
        raise ConfigError(f"the {kind} cell has its own temporal convolution; drop --conv-kernel "
                          f"{conv_kernel} or choose another cell")


__all__ = ["CELLS", "Cell", "DecoderStep", "ElmanRNN", "GRU", "LSTM", "MLSTM", "MinGRU", "MinLSTM",
           "RGLRU", "RNN", "cell_class", "check_activation", "check_front_end", "make_cell"]
