"""The web app: the page at /, the JSON API under /v1 (api.py), OpenAPI at /docs, and each
task's page panel at /panels/<task>.js (a script beside the task's module).

Every refusal is a 4xx with one line of JSON, {"error": "..."}; an unexpected failure is a
500 with one line too (its traceback goes to the server's log, never to the client)."""
import asyncio
import logging
import sys
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from ..errors import CheckpointError, TextRNNError, first_line
from ..tasks import TASKS
from ..version import __version__
from . import api
from .batcher import Busy
from .hosts import HostCheck, is_loopback
from .runs import ApiError, Runs

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


def create_app(runs: dict, cfg) -> FastAPI:
    """The app for loaded runs (name -> loaded run, see runs.load_runs) and a ServeConfig."""
    held = Runs(runs, cfg)

    @asynccontextmanager
    async def lifespan(app):
        loop = asyncio.get_running_loop()
        held.start(lambda events: loop.call_soon_threadsafe(api.deliver, events))
        yield
        held.close()

    app = FastAPI(title="textrnn", version=__version__, lifespan=lifespan,
                  description="Recurrent text models: " + ", ".join(
                      sorted({t.endpoint.path for t in TASKS.values() if t.endpoint})) + ".")
    app.state.runs = held
    app.add_middleware(BodyLimit, max_bytes=cfg.max_body_kb * 1024)
    app.state.loopback = is_loopback(cfg.host)
    if app.state.loopback:  # added last: it runs first
        app.add_middleware(HostCheck, allowed=[cfg.host, *cfg.allowed_host], refuse=refuse)
    add_error_handlers(app)
    app.include_router(api.router(held, cfg))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    @app.get("/panels/{name}.js", include_in_schema=False)
    def panel(name: str):
        task = TASKS.get(name)
        if task is None or task.endpoint is None or not task.endpoint.panel:
            raise HTTPException(404, f"no panel for {name!r}; the page draws the generic form")
        return FileResponse(panel_path(task), media_type="text/javascript")

    return app


def panel_path(task) -> Path:
    """The task's panel script: a file beside the module that defines the task."""
    return Path(sys.modules[task.__module__].__file__).resolve().parent / task.endpoint.panel


def refuse(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": first_line(Exception(message), 400)}, status_code=status)


def add_error_handlers(app) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc):
        return refuse(422, describe_invalid(exc.errors()))

    @app.exception_handler(HTTPException)
    async def http(request, exc):
        return refuse(exc.status_code, str(exc.detail))

    @app.exception_handler(ApiError)
    async def api_error(request, exc):
        return refuse(exc.status, str(exc))

    @app.exception_handler(Busy)
    async def busy(request, exc):
        response = refuse(503, str(exc))
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(TextRNNError)
    async def textrnn_error(request, exc):  # bad values or data in a request; a broken model
        return refuse(500 if isinstance(exc, CheckpointError) else 422, str(exc))

    @app.exception_handler(Exception)
    async def unexpected(request, exc):
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return refuse(500, f"internal error ({type(exc).__name__}); the server's log has the details")


def describe_invalid(errors) -> str:
    """pydantic's errors as one line: "temperature: Input should be a valid number"."""
    parts = []
    for e in errors[:3]:
        if e.get("type") == "json_invalid":
            return "the body is not valid JSON; send one JSON object, see /docs"
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        what = "unknown key" if e.get("type") == "extra_forbidden" else e.get("msg", "invalid")
        parts.append(f"{where}: {what}")
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more + "; see /docs for the request's fields"


class BodyLimit:
    """Refuses a request body over `max_bytes` (413), by its declared length or as it
    arrives, before anything parses it."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await refuse(413, self.message())(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise HTTPException(413, self.message())
            return message

        await self.app(scope, counted, send)

    def message(self) -> str:
        return f"the request body is over {self.max_bytes // 1024} KiB, this server's --max-body-kb"
