"""Load on `textrnn serve`: one stream at a time against many at once, on loopback.

    python bench/serve_load.py                      # 32 streams x 200 tokens, a 2x512 char LSTM
    python bench/serve_load.py --run RUN --streams 32 --tokens 200

A server process (`textrnn serve`, port 0) holds a language model: the model of --run, or a
2-layer 512-unit character LSTM with random weights (the size of the README's Tiny
Shakespeare model; speed does not depend on what the weights learned). Then, on loopback:

  single:     --single requests one after another, each streaming --tokens tokens;
  concurrent: --streams requests at once, each streaming --tokens tokens, every one seeded;
              meanwhile requests that break the limits (want 4xx) and clients that hang up
              mid-stream (their slots must be freed).

Reported: aggregate tokens/s of each phase and their ratio (the server steps concurrent
streams as one batch), time to first token and the gap between a stream's tokens (p50,
p95), errors, the 4xx answers, and whether every slot was free at the end. The load is
bounded: a fixed number of requests, each with --timeout seconds. The client runs on the
same machine as the server, so the ratio is a floor. One JSON object goes to stdout.
"""
import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import torch

import textrnn

sys.path.insert(0, str(Path(__file__).parent))
from sample_speed import CHARS, cpu_name  # noqa: E402  (CHARS: the 65-id character vocabulary)

TARGET_RATIO = 4.0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", help="a language-model run folder (default: a random 2x512 char LSTM)")
    p.add_argument("--streams", type=int, default=32)
    p.add_argument("--tokens", type=int, default=200)
    p.add_argument("--single", type=int, default=5, help="requests in the one-at-a-time phase")
    p.add_argument("--weights", default="fp32", choices=("fp32", "bf16", "int8"))
    p.add_argument("--timeout", type=float, default=300, help="seconds any one request may take")
    return p.parse_args(argv)


def random_run(folder: Path) -> Path:
    tok = textrnn.train_tokenizer("char", [CHARS])
    torch.manual_seed(0)
    model = textrnn.build_model(textrnn.ModelConfig(
        task="lm", vocab_size=tok.get_vocab_size(), head=textrnn.LMHeadConfig(),
        encoder=textrnn.EncoderConfig(cell="lstm", embed_dim=128, hidden_size=512, num_layers=2)))
    textrnn.save_pretrained(folder, model, tok)
    return folder


def start_server(run: Path, args) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "textrnn", "serve", str(run), "--port", "0",
                             "--weights", args.weights, "--max-streams", str(max(64, args.streams))],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if " at http://" not in line:
        proc.kill()
        raise SystemExit(f"the server did not start: {line}")
    return proc, line.split(" at ")[1].split()[0].rstrip("/")


async def stream(url: str, body: dict, hang_up_after: int = 0) -> dict:
    """One streamed request on a connection of its own: when it was sent, when each piece
    arrived, its final event. A few lines of HTTP/1.1 over asyncio, so that the client's
    own cost (on the server's cores) stays small next to what is measured."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    data = json.dumps({**body, "stream": True}).encode()
    sent, arrivals, final = time.perf_counter(), [], None
    writer.write(b"POST /v1/generate HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (host.encode(), len(data), data))
    try:
        status = (await reader.readuntil(b"\r\n\r\n")).split(b" ", 2)[1]
        if status != b"200":
            return {"error": f"HTTP {status.decode()}"}
        buffer = b""
        while final is None:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)  # chunked transfer
            if size == 0:
                break
            buffer += (await reader.readexactly(size + 2))[:-2]
            *events, buffer = buffer.split(b"\n\n")
            for event in events:
                if event.startswith(b"data: "):
                    arrivals.append(time.perf_counter())
                    if hang_up_after and len(arrivals) >= hang_up_after:
                        return {"hung_up": True}
                else:
                    final = json.loads(event.split(b"data: ", 1)[1])
    finally:
        writer.close()
    if final is None or "error" in final:
        return {"error": (final or {}).get("error", "the stream ended without its result")}
    return {"sent": sent, "arrivals": arrivals, "tokens": final["tokens"], "end": time.perf_counter()}


def summary(results: list[dict], began: float) -> dict:
    done = [r for r in results if "tokens" in r]
    tokens = sum(r["tokens"] for r in done)
    seconds = max(r["end"] for r in done) - began
    ttft = [r["arrivals"][0] - r["sent"] for r in done]
    gaps = [b - a for r in done for a, b in zip(r["arrivals"], r["arrivals"][1:])]
    return {"requests": len(results), "errors": sum("error" in r for r in results),
            "tokens": tokens, "seconds": round(seconds, 3), "tokens_per_s": round(tokens / seconds, 1),
            "ttft_ms": percentiles(ttft), "token_gap_ms": percentiles(gaps)}


def percentiles(xs: list[float]) -> dict:
    q = statistics.quantiles(xs, n=20) if len(xs) > 1 else xs * 19
    return {"p50": round(1000 * statistics.median(xs), 2), "p95": round(1000 * q[18], 2)}


async def bad_requests(client, url: str) -> list[int]:
    bodies = [{"max_tokens": 10**9}, {"temperature": "hot"}, {"prompt": "x" * 10**6}, {"model": "nope"}]
    return [(await client.post(url + "/v1/generate", json=b)).status_code for b in bodies]


async def load(url: str, args) -> dict:
    body = {"prompt": "ROMEO:", "max_tokens": args.tokens}
    await stream(url, {**body, "seed": 0})  # warm-up
    began = time.perf_counter()
    single = [await stream(url, {**body, "seed": i}) for i in range(args.single)]
    single_summary = summary(single, began)
    async with httpx.AsyncClient(timeout=args.timeout) as client:
        began = time.perf_counter()
        many, bad, hung = await asyncio.wait_for(asyncio.gather(
            asyncio.gather(*(stream(url, {**body, "seed": i}) for i in range(args.streams))),
            bad_requests(client, url),
            asyncio.gather(*(stream(url, {**body, "max_tokens": 1000}, hang_up_after=5)
                             for _ in range(2)))), args.timeout)
        concurrent = summary(list(many), began)
        await asyncio.sleep(0.5)
        health = (await client.get(url + "/v1/health")).json()["streams"]
    ratio = concurrent["tokens_per_s"] / single_summary["tokens_per_s"]
    return {"single": single_summary, "concurrent": concurrent,
            "concurrent_over_single": round(ratio, 2), "target": TARGET_RATIO,
            "met": ratio >= TARGET_RATIO and concurrent["errors"] == 0,
            "bad_requests_status": bad, "hung_up_clients": sum("hung_up" in h for h in hung),
            "slots_in_use_after": sum(s["active"] for s in health.values()),
            "peak_streams_stepped_together": max(s["peak"] for s in health.values())}


def main(argv=None):
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(args.run) if args.run else random_run(Path(tmp) / "lm")
        cfg = textrnn.load(run).config.encoder
        proc, url = start_server(run, args)
        try:
            result = asyncio.run(load(url, args))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(json.dumps({"model": f"{cfg.num_layers}x{cfg.hidden_size} {cfg.cell}", "weights": args.weights,
                      "streams": args.streams, "tokens_per_stream": args.tokens,
                      "cpu": cpu_name(), **result}, indent=1))


if __name__ == "__main__":
    main()
