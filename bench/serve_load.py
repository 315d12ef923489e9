"""Load test of ``aekit serve``: N concurrent clients doing reconstruct on 28x28 PNGs for a fixed time.

    python bench/serve_load.py                       # 16 clients, 20 s, a deep MNIST model
    python bench/serve_load.py --clients 32 --duration 60 --run runs/conv32

A real uvicorn server is started in a subprocess (``aekit serve RUN --threads 1``) on a free local
port; the clients (``httpx.AsyncClient``, one keep-alive connection each, in this process) POST a
PNG body to ``/reconstruct`` with ``Accept: image/png`` and check every answer is a 200 PNG of
the right size. After a warm-up the clock runs for ``--duration`` seconds: throughput, p50 / p99
latency, errors, and the server's resident memory (``/proc/PID/status`` VmRSS) before and after
the measured run (and a second run, to tell a leak from a one-off growth). Clients and server
share the machine's cores, so the CPU seconds each side used are reported too.

Without ``--run``, a ``deep`` model (latent 32) is trained for one epoch on 10k MNIST images into
``bench/runs/serve_deep`` first; its quality does not matter here, only its size.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, default_data_dir, markdown_table, run_dir, trained_run, write_results


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ensure_model(run: str | None, data_dir: str) -> Path:
    if run:
        return Path(run)
    out = run_dir("serve_deep")
    trained_run(out, "deep", dataset="mnist", data_dir=data_dir, latent_dim=32, epochs=1, limit=10000)
    return out


def test_pngs(data_dir: str, n: int = 256) -> list[bytes]:
    from PIL import Image

    from aekit.data import load_split

    images = load_split("mnist", "test", data_dir=data_dir, download=False, progress=False).images[:n, ..., 0]
    out = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


class RawConnection:
    """A bare HTTP/1.1 keep-alive connection (asyncio streams): far less client CPU per request than httpx."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{head}"
                          f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def hammer_raw(url: str, pngs: list[bytes], clients: int, seconds: float) -> dict:
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.perf_counter() + seconds
    headers = {"Content-Type": "image/png", "Accept": "image/png"}

    async def client(i: int) -> None:
        connection, k = RawConnection(host, int(port)), i
        try:
            while time.perf_counter() < deadline:
                body = pngs[k % len(pngs)]
                k += clients
                started = time.perf_counter()
                try:
                    status, content = await connection.post("/reconstruct", body, headers)
                except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as err:
                    errors.append(f"{type(err).__name__}: {err}")
                    connection.close()
                    connection = RawConnection(host, int(port))
                    continue
                if status != 200 or content[:8] != b"\x89PNG\r\n\x1a\n":
                    errors.append(f"{status}: {content[:200]!r}")
                latencies.append(time.perf_counter() - started)
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    return {"latencies": latencies, "errors": errors, "wall": time.perf_counter() - started}


async def hammer(url: str, pngs: list[bytes], clients: int, seconds: float) -> dict:
    """``clients`` loops, each POSTing PNGs back to back for ``seconds``; latencies of finished requests."""
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"content-type": "image/png", "accept": "image/png"}

    async def client(i: int, http: httpx.AsyncClient) -> None:
        k = i
        while time.perf_counter() < deadline:
            body = pngs[k % len(pngs)]
            k += clients
            started = time.perf_counter()
            try:
                r = await http.post(f"{url}/reconstruct", content=body, headers=headers)
                ok = r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n"
                if not ok:
                    errors.append(f"{r.status_code}: {r.text[:200]}")
            except httpx.HTTPError as err:
                errors.append(f"{type(err).__name__}: {err}")
                continue
            latencies.append(time.perf_counter() - started)

    async with httpx.AsyncClient(limits=limits, timeout=30.0) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(i, http) for i in range(clients)))
        wall = time.perf_counter() - started
    return {"latencies": latencies, "errors": errors, "wall": wall}


def summarise(result: dict, clients: int) -> dict:
    lat = sorted(result["latencies"])
    q = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) >= 2 else [float("nan")] * 99
    return {
        "clients": clients,
        "requests": len(lat),
        "errors": len(result["errors"]),
        "req_per_s": len(lat) / result["wall"],
        "p50_ms": 1000 * q[49],
        "p99_ms": 1000 * q[98],
        "max_ms": 1000 * lat[-1] if lat else float("nan"),
    }


def measure(load, url: str, pngs: list[bytes], args: argparse.Namespace, pid: int, client: str) -> list[dict]:
    asyncio.run(load(url, pngs, args.clients, args.warmup))
    rows = []
    for i in range(args.repeats):
        rss_before = rss_mib(pid)
        cpu_server, cpu_client = cpu_seconds(pid), resource.getrusage(resource.RUSAGE_SELF)
        result = asyncio.run(load(url, pngs, args.clients, args.duration))
        usage = resource.getrusage(resource.RUSAGE_SELF)
        rows.append({
            "client": client, "run": i + 1, **summarise(result, args.clients),
            "server_cpu_s": cpu_seconds(pid) - cpu_server,
            "client_cpu_s": (usage.ru_utime + usage.ru_stime) - (cpu_client.ru_utime + cpu_client.ru_stime),
            "rss_before_mib": rss_before, "rss_after_mib": rss_mib(pid), "load_avg_1m": os.getloadavg()[0],
            "first_errors": result["errors"][:3],
        })
        print(f"{client} run {i + 1}: {rows[-1]['req_per_s']:.1f} req/s, p99 {rows[-1]['p99_ms']:.1f} ms, "
              f"{rows[-1]['errors']} errors", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="model to serve (default: train bench/runs/serve_deep)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per measured run (default 20)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up load (default 3)")
    parser.add_argument("--repeats", type=int, default=2, help="measured runs per client kind (default 2)")
    parser.add_argument("--workers", type=int, default=4, help="server: inferences at once (default 4)")
    parser.add_argument("--client", choices=("httpx", "raw", "both"), default="both",
                        help="httpx.AsyncClient, bare asyncio HTTP/1.1 connections (far less client CPU), "
                             "or both one after the other against the same server (default)")
    parser.add_argument("--data-dir", default=default_data_dir())
    parser.add_argument("--name", default="serve_load", help="results file name (default serve_load)")
    args = parser.parse_args()

    run = ensure_model(args.run, args.data_dir)
    pngs = test_pngs(args.data_dir)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "AEKIT_DATA": args.data_dir}
    server = subprocess.Popen(
        [sys.executable, "-m", "aekit.cli", "serve", str(run), "--port", str(port), "--threads", "1",
         "--workers", str(args.workers), "--test-images", "0"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.time() > deadline:
                raise SystemExit(f"the server did not start:\n{server.stdout.read()}")
            time.sleep(0.2)
        import uvicorn

        rss_idle = rss_mib(server.pid)
        kinds = ("httpx", "raw") if args.client == "both" else (args.client,)
        rows = []
        for kind in kinds:
            rows += measure(hammer if kind == "httpx" else hammer_raw, url, pngs, args, server.pid, kind)
        healthy = httpx.get(f"{url}/health", timeout=5).json()["status"] == "ok"
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()

    verdict = {
        kind: {
            "req_per_s_min": min(r["req_per_s"] for r in rows if r["client"] == kind),
            "p99_ms_max": max(r["p99_ms"] for r in rows if r["client"] == kind),
            "errors": sum(r["errors"] for r in rows if r["client"] == kind),
        } for kind in kinds
    } | {"rss_idle_mib": rss_idle, "rss_end_mib": rows[-1]["rss_after_mib"], "healthy_after": healthy}
    table = markdown_table(rows, ["client", "run", "clients", "requests", "errors", "req_per_s", "p50_ms", "p99_ms",
                                  "max_ms", "server_cpu_s", "client_cpu_s", "rss_before_mib", "rss_after_mib",
                                  "load_avg_1m"], floatfmt=".1f")
    notes = (
        f"`aekit serve` (uvicorn {uvicorn.__version__}, 1 process, --threads 1, --workers {args.workers}) on "
        f"127.0.0.1; {args.clients} concurrent clients in one process on the same machine, each POSTing 28x28 "
        f"MNIST PNGs to /reconstruct (Accept: image/png) back to back for {args.duration:g} s per run after a "
        f"{args.warmup:g} s warm-up. Clients: `httpx` = httpx.AsyncClient; `raw` = bare asyncio HTTP/1.1 "
        f"keep-alive connections (same requests, ~10x less client CPU). Model: {run}. Server RSS idle "
        f"{rss_idle:.1f} MiB, at the end {rows[-1]['rss_after_mib']:.1f} MiB. Clients and server share the "
        f"machine's {os.cpu_count()} cores with other jobs (load average column), so the CPU seconds each side "
        "used are shown."
    )
    write_results(args.name, {"settings": vars(args) | {"run": str(run)}, "runs": rows, "verdict": verdict},
                  table, notes)


if __name__ == "__main__":
    main()
