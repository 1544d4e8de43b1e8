"""A recurrent state is nested: a list with an entry per layer, each a tensor or a tuple of
tensors (an LSTM's (h, c); a cell may hold more), or None where a layer returns none. One
walk serves every use: detaching it between BPTT windows, moving it to a device, picking,
repeating or joining rows of it, laying it flat."""
import torch


def map_state(fn, *states):
    """The same nesting as `states[0]`, with fn(t0, t1, ...) of the tensors found at each place
    of every state given; None stays None."""
    first = states[0]
    if first is None:
        return None
    if isinstance(first, torch.Tensor):
        return fn(*states)
    parts = (map_state(fn, *same_place) for same_place in zip(*states))
    return first._make(parts) if hasattr(first, "_make") else type(first)(parts)


def leaves(state) -> list:
    """The tensors of a state in order (depth first), None entries left out."""
    if state is None:
        return []
    if isinstance(state, torch.Tensor):
        return [state]
    return [t for part in state for t in leaves(part)]


def take(state, rows):
    """Rows `rows` (an index tensor) of every tensor of a batch-first state."""
    return map_state(lambda t: t.index_select(0, rows), state)


def join(a, b):
    """Rows of b after rows of a, batch first, in the same nesting (a None: just b)."""
    return b if a is None else map_state(lambda x, y: torch.cat([x, y]), a, b)


def detach(state):
    """Cut the graph between BPTT windows: the values carry over, the gradients do not
    (truncated backpropagation through time, Williams & Peng 1990)."""
    return map_state(torch.Tensor.detach, state)


def to_device(state, device):
    return map_state(lambda t: t.to(device), state)
