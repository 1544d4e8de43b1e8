"""Tasks and cells from other packages. A distribution that declares entry points in the
group "textrnn.tasks" (name: the task's name, value: its Task subclass) or "textrnn.cells"
(name: the cell's, value: its Cell subclass) adds them to TASKS and CELLS the first time
textrnn looks for a name it does not know, and before the `textrnn` command builds its
flags: its training and use commands, loading, evaluation and serving then follow, as for
a task or cell of the package. A name the package already has keeps the package's meaning.

    [project.entry-points."textrnn.cells"]
    mycell = "mypackage.cells:MyCell"
"""
import logging
from importlib.metadata import entry_points

log = logging.getLogger("textrnn")
_loaded: set = set()


def load(group: str, registry: dict) -> None:
    """Add the group's entry points to `registry` (once per process)."""
    if group in _loaded:
        return
    _loaded.add(group)
    for point in entry_points(group=group):
        if point.name in registry:
            continue
        try:
            registry[point.name] = point.load()
        except Exception as exc:  # a broken plug-in costs its own name only
            log.warning("the %s entry point %r (%s) could not be loaded: %s", group, point.name,
                        point.value, exc)

