"""Which Host names a server answers.

A page on any web site can point its own domain at 127.0.0.1 (DNS rebinding) and then talk
to a local server as a same-origin page: read /v1/models, generate. The browser still sends
the page's domain in the Host header, so a server on a loopback address answers only the
names that mean this machine (`localhost`, a loopback address) and the ones given with
--allowed-host, as Jupyter does. A server bound to another interface is reachable by
whatever name other machines use for it, so it checks nothing and says so when it starts."""
import ipaddress
import socket

LOCAL_NAMES = frozenset({"localhost"})


def is_loopback(host: str) -> bool:
    """True when every address `host` names is a loopback address (127.0.0.0/8, ::1)."""
    name = host.strip("[]").rstrip(".").lower()
    if is_local_name(name):
        return True
    try:
        infos = socket.getaddrinfo(name, None)
    except (socket.gaierror, UnicodeError):
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def host_name(header: str) -> str:
    """The name in a Host header, without port, brackets or the final dot, lower case:
    "[::1]:8000" -> "::1", "LocalHost.:8000" -> "localhost"."""
    value = header.strip()
    if value.startswith("["):  # an IPv6 literal, "[::1]" or "[::1]:8000"
        return value[1:value.find("]")].lower() if "]" in value else value.lower()
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".").lower()


def is_local_name(name: str) -> bool:
    """A Host name that can only mean this machine: `localhost` or a loopback address."""
    if name in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class HostCheck:
    """Middleware: refuses (403, one line of JSON) a request whose Host header is missing or
    names neither this machine nor one of `allowed`."""

    def __init__(self, app, allowed=(), refuse=None):
        self.app = app
        self.allowed = {host_name(a) for a in allowed}
        self.refuse = refuse

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":  # lifespan; the app serves no websockets
            return await self.app(scope, receive, send)
        problem = self.problem([v for k, v in scope["headers"] if k == b"host"])
        if problem:
            return await self.refuse(403, problem)(scope, receive, send)
        await self.app(scope, receive, send)

    def problem(self, values: list[bytes]) -> str:
        """Why these Host header values are refused, or "" when one of them is allowed."""
        if len(values) != 1:
            return ("the request has no Host header; this server answers only requests for "
                    "localhost" if not values else "the request has more than one Host header")
        name = host_name(values[0].decode("latin-1"))
        if is_local_name(name) or name in self.allowed:
            return ""
        return (f"Host {name!r} is not a name of this machine; a server on a loopback address "
                "answers only localhost and loopback addresses (start it with --allowed-host "
                f"{name} if this name is meant to reach it)")
