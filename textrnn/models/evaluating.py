"""Evaluation mode for the length of a block."""
import contextlib


@contextlib.contextmanager
def evaluating(model):
    """`model` in eval mode (no dropout, BatchNorm's running statistics) inside the block,
    and in the mode it had before after it, also when the block raises."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
