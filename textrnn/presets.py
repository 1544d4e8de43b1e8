"""The recipes' settings. A run's settings are resolved once, in order: each field's default,
the command's defaults, the preset, then what the user typed. Each task keeps its recipe's
presets beside it (`Task.recipe_preset`: the bundled sample's, or a real corpus's); this
module gives them a fresh time-stamped run folder."""
from .data.bundled import SAMPLE_DATA, timestamped
from .tasks import get_task


def for_recipe(task: str, name: str):
    """The preset function `parse_settings` takes for `recipes/<name>.py`: `task`'s recipe
    settings for what the user typed, written to runs/<name>-<time>/ unless --out says."""
    def preset(given: dict) -> dict:
        return {**get_task(task).recipe_preset(given), "out": timestamped(name)}
    return preset


__all__ = ["SAMPLE_DATA", "for_recipe"]
