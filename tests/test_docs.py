"""The documentation site's promises that a test can keep: every public name has a docstring
of its own, and the API page lists every public name (CI builds the site itself, strictly,
before the tests)."""
import inspect
import re
import types
from pathlib import Path

import textrnn

DOCS = Path(__file__).resolve().parent.parent / "docs"
DATA = {"TASKS", "CELLS", "__version__"}  # no docstring can sit on a dict or a string: the page says them


def test_every_public_name_has_a_docstring_of_its_own():
    missing = []
    for name in sorted(set(textrnn.__all__) - DATA):
        obj = getattr(textrnn, name)
        doc = (obj.__doc__ or "").strip() if isinstance(obj, (type, types.ModuleType, types.FunctionType)) \
            else (inspect.getdoc(obj) or "")
        if len(doc) < 20:
            missing.append(name)
    assert not missing, f"public names without a docstring: {missing}"


def test_the_api_page_lists_every_public_name():
    page = (DOCS / "api.md").read_text()
    listed = set(re.findall(r"^::: textrnn\.(\w+)", page, re.M))
    assert listed == set(textrnn.__all__) - DATA
    assert all(f"`textrnn.{n}`" in page for n in DATA)
