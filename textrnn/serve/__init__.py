"""`textrnn serve`: a page and a JSON API for run folders (the `serve` extra: FastAPI and
uvicorn). app.py is the web app, api.py its routes, batcher.py the step-by-step batching of
generation requests, runs.py the served runs, schemas.py the request bodies."""
import importlib
import socket
import sys

from ..errors import ConfigError, setting_name
from .config import ServeConfig


SWITCH_INTERVAL = 2e-4  # seconds


def _need_extra():
    try:
        for name in ("fastapi", "uvicorn", "python_multipart"):
            importlib.import_module(name)
    except ImportError as e:
        raise ConfigError(f"textrnn serve needs the serve extra ({e.name} is missing): "
                          "pip install 'textrnn[serve]'") from None


def create_app(run_dirs, cfg: ServeConfig | None = None):
    """The FastAPI app for run folders (e.g. for uvicorn or a test client)."""
    _need_extra()
    from .app import create_app as make
    from .runs import load_runs

    cfg = cfg or ServeConfig()
    return make(load_runs(run_dirs, cfg.device), cfg)


def serve(run_dirs, cfg: ServeConfig, announce=print) -> None:
    """Load the run folders, bind, say where (each line through `announce`, its settings
    named as errors name them), and serve until interrupted."""
    import uvicorn

    app = create_app(run_dirs, cfg)
    sock = _bind(cfg.host, cfg.port)
    host, port = sock.getsockname()[:2]
    names = ", ".join(app.state.runs.runs)
    announce(f"serving {names} at http://{host}:{port}/ (JSON API under /v1, its docs at "
             f"/docs); Ctrl+C stops")
    if not app.state.loopback:
        announce(exposure(cfg.host, port, keyed=cfg.key() is not None))
    # The batcher's thread and the event loop's share the GIL; at Python's default 5 ms
    # switch interval a streamed token can wait that long for its turn to be sent
    # (measured: a third more tokens/s, alone and under load, at 0.2 ms).
    sys.setswitchinterval(SWITCH_INTERVAL)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))
    server.run(sockets=[sock])


def exposure(host: str, port: int, keyed: bool = False) -> str:
    """One line on what binding to a non-loopback address exposes."""
    if keyed:
        return (f"{setting_name('host')} {host} is not a loopback address: any machine that can reach "
                f"this one on port {port} can load the page, and with the API key use the API (there "
                "is no Host check); the key travels in the clear unless a TLS proxy is in front")
    return (f"{setting_name('host')} {host} is not a loopback address: any machine that can reach "
            f"this one on port {port} can generate with these runs and read /v1/models, with no "
            "password and no Host check; bind to 127.0.0.1 to keep it to this machine")


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket, bound before the server starts so a taken port is one line."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise ConfigError(f"cannot listen on {host!r} ({e.strerror}); pass {setting_name('host')} "
                          "with an address of this machine, e.g. 127.0.0.1") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({e.strerror}); pass another "
                          f"{setting_name('port')} (0 picks a free one)") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


__all__ = ["ServeConfig", "create_app", "serve"]
