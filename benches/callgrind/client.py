#!/usr/bin/env python3
"""The client of benches/callgrind/run.sh: sequential GETs on one keep-alive connection.

    client.py HOST PORT PATH --warmup W --count N [--zero CMD] [--dump CMD] [--settle S]

Sends W warm-up requests, waits S seconds (the server finishes what it does after a response:
logging, returning upstream connections to their pools), runs the --zero command (e.g.
`callgrind_control -z PID`), sends the N measured requests on the same connection, waits S seconds
again and runs the --dump command. One request at a time, so the server does the same work for
each. Every response must be a 200 with a body (Content-Length or chunked); anything else is a
harness error (exit 1). Prints one JSON object: the counts, the seconds the measured requests
took, and the headers of the last response (so the caller can check e.g. that hits are hits).
"""
import argparse
import json
import shlex
import socket
import subprocess
import sys
import time


class Conn:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise RuntimeError("the server closed the connection")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exactly(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def get(self, request):
        self.sock.sendall(request)
        status = self._line().decode("latin-1")
        headers = {}
        while True:
            line = self._line()
            if not line:
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        parts = status.split(" ", 2)
        code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if "content-length" in headers:
            body = self._exactly(int(headers["content-length"]))
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():  # trailers, then the empty line
                        pass
                    break
                body += self._exactly(size)
                self._exactly(2)
        else:
            raise RuntimeError(f"response with neither Content-Length nor chunked: {status}")
        if "close" in headers.get("connection", "").lower():
            raise RuntimeError("the server asked to close the connection (no keep-alive)")
        return code, status, headers, body


def hook(cmd, settle):
    if not cmd:
        return
    time.sleep(settle)
    done = subprocess.run(shlex.split(cmd), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"`{cmd}` failed ({done.returncode}): {done.stdout}{done.stderr}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("path")
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--host-header", default="bench.test")
    ap.add_argument("--zero")
    ap.add_argument("--dump")
    ap.add_argument("--settle", type=float, default=0.5)
    a = ap.parse_args()

    request = (f"GET {a.path} HTTP/1.1\r\nHost: {a.host_header}\r\n"
               "User-Agent: ferry-callgrind\r\nAccept: */*\r\n\r\n").encode()
    conn = Conn(a.host, a.port)
    last = None

    def run(n, what):
        nonlocal last
        for i in range(n):
            code, status, headers, body = conn.get(request)
            if code != 200:
                raise RuntimeError(f"{what} request {i + 1}: `{status}`")
            if not body:
                raise RuntimeError(f"{what} request {i + 1}: empty body")
            last = (headers, len(body))

    try:
        run(a.warmup, "warm-up")
        hook(a.zero, a.settle)
        start = time.monotonic()
        run(a.count, "measured")
        seconds = time.monotonic() - start
        hook(a.dump, a.settle)
    except (OSError, RuntimeError, ValueError) as e:
        print(f"client.py: {e}", file=sys.stderr)
        return 1
    headers, size = last
    print(json.dumps(dict(warmup=a.warmup, count=a.count, seconds=round(seconds, 3),
                          body_bytes=size, last_headers=headers)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
