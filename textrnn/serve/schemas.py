"""The JSON bodies the API takes, made from each task's request dataclass (its endpoint's
`request`): the fields' types, defaults and help become a pydantic model, which FastAPI
checks (unknown keys and wrong types are refused with a 422 before a handler runs) and
publishes in the OpenAPI docs; the page (its panels and the generic form) reads the same
fields and their defaults (`inputs`). The fields' ranges are checked by the route
(`settings.check`), so an error names the JSON field; ServeConfig's caps by the handlers."""
import functools
import types
import typing
from dataclasses import fields

from pydantic import ConfigDict, Field, create_model

from ..settings import default_of

MODEL_FIELD = (str | None, Field(None, description="a name from GET /v1/models; may be left out "
                                 "when only one run folder of the task is served"))


@functools.cache
def request_model(task):
    """The pydantic model of `task`'s request body."""
    spec = {"model": MODEL_FIELD}
    for f in fields(task.endpoint.request):
        meta = f.metadata
        limits = {"min_length": 1} if meta.get("required") else {}
        if meta.get("max_items") is not None:
            limits["max_length"] = meta["max_items"]
        default = ... if meta.get("required") else default_of(f)
        spec[f.name] = (f.type, Field(default, description=meta.get("help"), **limits))
    name = "".join(p.capitalize() for p in task.endpoint.path.split("/")) + "Request"
    return create_model(name, __config__=ConfigDict(extra="forbid", strict=True), **spec)


def kind_of(tp) -> str:
    """A field's type as the page's form shows it."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and args:
        return kind_of(args[0])
    if typing.get_origin(tp) is list:
        inner = typing.get_args(tp)[0] if typing.get_args(tp) else str
        return "rows" if typing.get_origin(inner) is list else "texts"
    return {str: "text", int: "integer", float: "number", bool: "boolean"}.get(tp, "text")


@functools.cache
def inputs(task) -> list[dict]:
    """`task`'s request fields for the page: name, kind, default, help, required."""
    out = []
    for f in fields(task.endpoint.request):
        out.append({"name": f.name, "kind": kind_of(f.type), "default": default_of(f),
                    "help": f.metadata.get("help", ""), "required": bool(f.metadata.get("required"))})
    return out
