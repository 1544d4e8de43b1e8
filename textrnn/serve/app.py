"""The web app: the page at /, the JSON API under /v1 (api.py), OpenAI-style completions
beside it (openai.py), OpenAPI at /docs, and each task's page panel at /panels/<task>.js (a
script beside the task's module). With an API key (--api-key), everything under /v1 and the
docs need it; with --cors-origin, pages of those origins may call the API.

Every refusal is a 4xx with one line of JSON, {"error": "..."}; an unexpected failure is a
500 with one line too (its traceback goes to the server's log, never to the client)."""
import asyncio
import functools
import hmac
import logging
import sys
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from ..errors import CheckpointError, TextRNNError, first_line
from ..tasks import TASKS
from ..version import __version__
from . import api, openai
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
    server = api.Server(held, cfg)
    extra, openai_paths = task_routes(server)
    openai_paths |= OPENAI_PATHS
    # Middleware runs last added first: the Host check, CORS (its preflights carry no key),
    # the API key, then the body's size.
    app.add_middleware(BodyLimit, max_bytes=cfg.max_body_kb * 1024, uploads=upload_caps(cfg, extra),
                       openai_paths=openai_paths)
    if cfg.key():
        app.add_middleware(ApiKey, key=cfg.key())
    if cfg.cors_origin:
        app.add_middleware(CORSMiddleware, allow_origins=list(cfg.cors_origin), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    app.state.loopback = is_loopback(cfg.host)
    if app.state.loopback:
        app.add_middleware(HostCheck, allowed=[cfg.host, *cfg.allowed_host], refuse=refuse)
    add_error_handlers(app, openai_paths)
    app.include_router(api.router(server))
    app.include_router(openai.router(server))
    for router in extra.values():
        app.include_router(router)
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


def task_routes(server) -> tuple[dict, set]:
    """The routes tasks add beside their endpoint (`Endpoint.routes`): a router per such
    task, and the paths among them that answer in OpenAI's shape (all of them)."""
    routers, paths = {}, set()
    for task in TASKS.values():
        if task.endpoint is not None and task.endpoint.routes is not None:
            routers[task] = APIRouter(prefix="/v1")
            paths |= set(task.endpoint.routes(routers[task], server, task))
    return routers, paths


def upload_caps(cfg, extra: dict) -> dict:
    """path -> (the most bytes its body may hold, the setting behind it) for the tasks whose
    requests upload files (`Endpoint.upload_kb`): the upload's cap in base64 (4 bytes per 3)
    with room for the rest of the request, on the endpoint and on the task's other routes."""
    caps = {}
    for task in TASKS.values():
        ep = task.endpoint
        if ep is None or ep.upload_kb is None:
            continue
        most = getattr(cfg, ep.upload_kb) * 1024 * 4 // 3 + 64 * 1024
        router = extra.get(task)
        for path in [f"/v1/{ep.path}", *(r.path for r in (router.routes if router else []))]:
            caps[path] = (max(most, cfg.max_body_kb * 1024), ep.upload_kb)
    return caps


def panel_path(task) -> Path:
    """The task's panel script: a file beside the module that defines the task."""
    return Path(sys.modules[task.__module__].__file__).resolve().parent / task.endpoint.panel


# The OpenAI-style endpoints answer errors in OpenAI's shape, so its clients can read them.
OPENAI_PATHS = frozenset({"/v1/completions", "/v1/chat/completions"})
OPENAI_TYPES = {401: "authentication_error", 404: "not_found_error", 413: "invalid_request_error",
                503: "server_overloaded"}


def refuse(status: int, message: str, path: str = "", openai_paths=OPENAI_PATHS) -> JSONResponse:
    """One line of JSON: {"error": "..."}, or on the OpenAI-style paths {"error": {"message":
    "...", "type": ..., "param": null, "code": null}}."""
    line = first_line(Exception(message), 400)
    if path.rstrip("/") in openai_paths:
        kind = OPENAI_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
        body = {"error": {"message": line, "type": kind, "param": None, "code": None}}
    else:
        body = {"error": line}
    return JSONResponse(body, status_code=status)


def add_error_handlers(app, openai_paths=OPENAI_PATHS) -> None:
    refuse_ = functools.partial(refuse, openai_paths=openai_paths)

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc):
        return refuse_(422, describe_invalid(exc.errors()), request.url.path)

    @app.exception_handler(HTTPException)
    async def http(request, exc):
        return refuse_(exc.status_code, str(exc.detail), request.url.path)

    @app.exception_handler(ApiError)
    async def api_error(request, exc):
        return refuse_(exc.status, str(exc), request.url.path)

    @app.exception_handler(Busy)
    async def busy(request, exc):
        response = refuse_(503, str(exc), request.url.path)
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(TextRNNError)
    async def textrnn_error(request, exc):  # bad values or data in a request; a broken model
        return refuse_(500 if isinstance(exc, CheckpointError) else 422, str(exc), request.url.path)

    @app.exception_handler(Exception)
    async def unexpected(request, exc):
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return refuse_(500, f"internal error ({type(exc).__name__}); the server's log has the details",
                      request.url.path)


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


class ApiKey:
    """Every request under /v1, and the API's docs, must carry `Authorization: Bearer KEY`
    (compared in constant time); the page and its scripts need none (the page asks for the
    key once and sends it). A refusal is a 401 with one line."""
    GUARDED = ("/v1/", "/docs", "/redoc", "/openapi.json")

    def __init__(self, app, key: str):
        self.app, self.key = app, key.encode()

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(self.GUARDED) or scope["method"] == "OPTIONS":
            return await self.app(scope, receive, send)
        given = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, token = given.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.key):
            return await self.app(scope, receive, send)
        message = ("this server needs an API key: send the header Authorization: Bearer KEY"
                   if not given else "the API key is wrong; send the server's key as Authorization: Bearer KEY")
        response = refuse(401, message, path)
        response.headers["WWW-Authenticate"] = "Bearer"
        await response(scope, receive, send)


class BodyLimit:
    """Refuses a request body over `max_bytes` (413), by its declared length or as it
    arrives, before anything parses it; `uploads`: path -> (a larger cap, its ServeConfig
    setting) for the routes that take files (their handlers check the file itself)."""

    def __init__(self, app, max_bytes: int, uploads: dict | None = None, openai_paths=OPENAI_PATHS):
        self.app, self.max_bytes, self.uploads = app, max_bytes, uploads or {}
        self.openai_paths = openai_paths

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        most, setting = self.uploads.get(scope.get("path", "").rstrip("/"), (self.max_bytes, "max_body_kb"))
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > most):
            refusal = refuse(413, self.message(most, setting), scope.get("path", ""), self.openai_paths)
            return await refusal(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > most:
                raise HTTPException(413, self.message(most, setting))
            return message

        await self.app(scope, counted, send)

    @staticmethod
    def message(most: int, setting: str) -> str:
        flag = "--" + setting.replace("_", "-")
        return f"the request body is over {most // 1024} KiB, what this server's {flag} allows"
