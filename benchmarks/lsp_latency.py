"""How fast `abl lsp` answers an edit, and how small it stays.

Starts the server (`abl lsp`, over stdio, speaking JSON-RPC by hand: no client library needed),
opens examples/hayne_grid.abl, then times didChange -> publishDiagnostics over several edits
(the server's debounce included: that is what an editor waits for). Reports min and median, the
server's resident memory (psutil) and whether torch is loaded (the server's own answer, and
/proc/PID/maps for libtorch).

    python benchmarks/lsp_latency.py            # 30 edits
    python benchmarks/lsp_latency.py --smoke    # 5 edits, a few seconds, asserts sanity
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "hayne_grid.abl"
SERVER = [sys.executable, "-c", "import sys; from abl.interpreter.cli import main; sys.exit(main(['lsp']))"]


class Client:
    def __init__(self) -> None:
        self.process = subprocess.Popen(SERVER, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.messages: queue.Queue = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            length = 0
            while (line := stream.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if not line:
                return
            self.messages.put(json.loads(stream.read(length)))

    def send(self, method: str, params: dict, request: bool = False) -> int | None:
        message = {"jsonrpc": "2.0", "method": method, "params": params}
        if request:
            self.next_id += 1
            message["id"] = self.next_id
        body = json.dumps(message).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()
        return message.get("id")

    def wait(self, match, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            message = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            if match(message):
                return message

    def request(self, method: str, params: dict) -> dict:
        ident = self.send(method, params, request=True)
        return self.wait(lambda m: m.get("id") == ident and "method" not in m)

    def close(self) -> None:
        self.request("shutdown", {})
        self.send("exit", {})
        self.process.wait(timeout=10)


def is_diagnostics(message: dict) -> bool:
    return message.get("method") == "textDocument/publishDiagnostics"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="5 edits and sanity asserts (seconds)")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    repeats = 5 if args.smoke else args.repeats

    started = time.perf_counter()
    client = Client()
    client.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
    client.send("initialized", {})
    uri, text = SPEC.as_uri(), SPEC.read_text(encoding="utf-8")
    client.send("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "abl", "version": 1,
                                                          "text": text}})
    client.wait(is_diagnostics)
    startup_s = time.perf_counter() - started

    latencies = []
    for version in range(2, repeats + 2):
        edited = text + f"# edit {version}\n" if version % 2 else text.replace("seed 0", f"seed {version}")
        sent = time.perf_counter()
        client.send("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                               "contentChanges": [{"text": edited}]})
        client.wait(is_diagnostics)
        latencies.append(time.perf_counter() - sent)

    info = client.request("workspace/executeCommand", {"command": "abl.serverInfo", "arguments": []})["result"]
    import psutil

    rss_mb = psutil.Process(info["pid"]).memory_info().rss / 2**20
    maps = Path(f"/proc/{info['pid']}/maps")
    libtorch = "libtorch" in maps.read_text() if maps.exists() else None
    client.close()

    low, median = min(latencies) * 1000, statistics.median(latencies) * 1000
    print(f"startup to first diagnostics: {startup_s * 1000:.0f} ms")
    print(f"didChange -> publishDiagnostics over {repeats} edits of {SPEC.name}: "
          f"min {low:.1f} ms, median {median:.1f} ms (target < 200 ms)")
    print(f"server resident memory: {rss_mb:.1f} MB (target < 150 MB)")
    print(f"torch in the server's sys.modules: {info['torch_loaded']}; libtorch mapped: {libtorch}")
    if args.smoke:
        assert len(latencies) == repeats and 0 < low <= median < 2000, latencies
        assert rss_mb < 300, rss_mb
        assert info["torch_loaded"] is False and libtorch is not True
    return 0


if __name__ == "__main__":
    sys.exit(main())
