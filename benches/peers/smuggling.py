#!/usr/bin/env python3
"""Measure how nginx and HAProxy answer the request-smuggling corpus.

Reads tests/fixtures/smuggling.json (a list of {"name", "raw"}), puts each
proxy in front of its own recording origin on 127.0.0.1, sends every case on
a fresh connection, and records:

  * the HTTP status codes the proxy sent back (0, 1 or 2 responses),
  * the request lines the origin received while the case ran,
  * whether `/smuggled` reached the origin,
  * whether a clean follow-up `GET /next` on a new connection was answered
    with `origin: GET /next` (i.e. the proxy was not left desynchronised).

Writes smuggling-peers.md and smuggling-peers.json next to this script.
Python 3 standard library only; needs the Debian `nginx` and `haproxy`
binaries.  Everything listens on 127.0.0.1; the whole run is bounded by a
watchdog and both proxies are always stopped.

Usage: python3 benches/peers/smuggling.py [--corpus PATH] [--out-dir DIR]
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
DEFAULT_CORPUS = os.path.join(ROOT, "tests", "fixtures", "smuggling.json")

LOCAL = "127.0.0.1"
CASE_READ_SECONDS = 2.0  # how long we listen for the proxy's answer(s)
FOLLOWUP_SECONDS = 2.0
WATCHDOG_SECONDS = 170  # whole run stays under 3 minutes
FOLLOWUP = b"GET /next HTTP/1.1\r\nHost: site.test\r\n\r\n"
FOLLOWUP_BODY = b"origin: GET /next"


class Watchdog(Exception):
    pass


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((LOCAL, 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --------------------------------------------------------------------------
# Recording origin
# --------------------------------------------------------------------------


class ConnReader:
    """Buffered reader over a socket; raises EOFError when the peer closes."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def read_line(self, limit=65536):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line, self.buf = self.buf[: i + 1], self.buf[i + 1 :]
                return line.rstrip(b"\r\n")
            if len(self.buf) > limit:
                raise ValueError("line too long")
            self.fill()

    def read_exact(self, n):
        while len(self.buf) < n:
            self.fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data


class Origin:
    """Threaded raw-socket HTTP/1.1 server that records every request line.

    It parses requests itself (request line, headers, Content-Length or
    chunked body), keeps connections alive, and answers 200 with body
    `origin: METHOD TARGET`.  If the bytes on a connection contain a second
    request, it is parsed and recorded too: that is how smuggling shows up.
    """

    def __init__(self, label):
        self.label = label
        self.lock = threading.Lock()
        self.records = []
        self.conn_seq = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOCAL, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def stop(self):
        self.stopped = True
        try:
            self.sock.close()
        except OSError:
            pass

    def take(self):
        """Return and clear the records."""
        with self.lock:
            out, self.records = self.records, []
        return out

    def _record(self, rec):
        rec["t"] = time.time()
        with self.lock:
            self.records.append(rec)

    def _accept_loop(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conn_seq += 1
                cid = self.conn_seq
            threading.Thread(target=self._serve, args=(conn, cid), daemon=True).start()

    def _serve(self, conn, cid):
        conn.settimeout(10)
        r = ConnReader(conn)
        try:
            while True:
                try:
                    line = r.read_line()
                    while line == b"":  # tolerate stray CRLF between requests
                        line = r.read_line()
                except EOFError:
                    return
                parts = line.split(b" ")
                if len(parts) != 3:
                    self._record({"conn": cid, "method": None,
                                  "target": line.decode("latin-1"),
                                  "host": None, "version": None,
                                  "malformed": True})
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")
                    return
                method, target, version = (p.decode("latin-1") for p in parts)
                headers = []
                while True:
                    h = r.read_line()
                    if h == b"":
                        break
                    name, _, value = h.partition(b":")
                    headers.append((name.strip().decode("latin-1").lower(),
                                    value.strip().decode("latin-1")))
                hosts = [v for n, v in headers if n == "host"]
                te = [v.lower() for n, v in headers if n == "transfer-encoding"]
                cl = [v for n, v in headers if n == "content-length"]
                conn_hdr = ",".join(v.lower() for n, v in headers if n == "connection")
                # Record as soon as the head is in (a request whose body never
                # completes still reached the origin), then read the body.
                rec = {"conn": cid, "method": method, "target": target,
                       "host": hosts[0] if len(hosts) == 1 else hosts,
                       "version": version, "body_len": 0, "body_complete": False}
                if te:
                    rec["te"] = te
                if cl:
                    rec["cl"] = cl
                self._record(rec)
                if te and te[-1].split(",")[-1].strip() == "chunked":
                    while True:
                        size_line = r.read_line()
                        size = int(size_line.split(b";")[0].strip(), 16)
                        if size == 0:
                            while r.read_line() != b"":  # trailers
                                pass
                            break
                        r.read_exact(size)
                        r.read_line()
                        rec["body_len"] += size
                elif cl:
                    n = int(cl[0])
                    r.read_exact(n)
                    rec["body_len"] = n
                rec["body_complete"] = True
                body = ("origin: %s %s" % (method, target)).encode("latin-1")
                close = "close" in conn_hdr or (version == "HTTP/1.0" and "keep-alive" not in conn_hdr)
                resp = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                        b"Content-Length: " + str(len(body)).encode() + b"\r\n"
                        + (b"Connection: close\r\n" if close else b"")
                        + b"\r\n" + body)
                conn.sendall(resp)
                if close:
                    return
        except (OSError, EOFError, ValueError):
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass


# --------------------------------------------------------------------------
# Client side: parse what a proxy sent back
# --------------------------------------------------------------------------

STATUS_RE = re.compile(rb"(?:^|\n)HTTP/\d\.\d (\d{3})")


def parse_responses(data):
    """Split a byte stream into HTTP responses.

    Returns (statuses, bodies, notes).  Handles Content-Length, chunked and
    read-until-close bodies; anything not starting with a status line is
    noted and the remainder is scanned for status lines.
    """
    statuses, bodies, notes = [], [], []
    pos = 0
    while pos < len(data):
        rest = data[pos:]
        if not rest.startswith(b"HTTP/"):
            notes.append("%d non-HTTP bytes: %r" % (len(rest), rest[:40]))
            statuses.extend(int(m.group(1)) for m in STATUS_RE.finditer(rest))
            break
        end = rest.find(b"\r\n\r\n")
        sep = 4
        if end < 0:
            end = rest.find(b"\n\n")
            sep = 2
        if end < 0:
            m = re.match(rb"HTTP/\d\.\d (\d{3})", rest)
            if m:
                statuses.append(int(m.group(1)))
            notes.append("truncated head")
            break
        head = rest[:end].decode("latin-1").split("\n")
        try:
            status = int(head[0].split(" ")[1])
        except (IndexError, ValueError):
            notes.append("bad status line %r" % head[0])
            break
        statuses.append(status)
        hdrs = {}
        for h in head[1:]:
            n, _, v = h.partition(":")
            hdrs[n.strip().lower()] = v.strip()
        body_start = pos + end + sep
        if 100 <= status < 200 or status in (204, 304):
            bodies.append(b"")
            pos = body_start
        elif "chunked" in hdrs.get("transfer-encoding", "").lower():
            p = body_start
            body = b""
            ok = False
            while True:
                e = data.find(b"\r\n", p)
                if e < 0:
                    break
                try:
                    size = int(data[p:e].split(b";")[0], 16)
                except ValueError:
                    break
                p = e + 2
                if size == 0:
                    e2 = data.find(b"\r\n\r\n", p - 2)
                    p = len(data) if e2 < 0 else e2 + 4
                    ok = True
                    break
                body += data[p : p + size]
                p += size + 2
            bodies.append(body)
            if not ok:
                notes.append("truncated chunked body")
                break
            pos = p
        elif "content-length" in hdrs:
            try:
                n = int(hdrs["content-length"])
            except ValueError:
                n = len(data) - body_start
            bodies.append(data[body_start : body_start + n])
            if body_start + n > len(data):
                notes.append("truncated body")
            pos = body_start + n
        else:
            bodies.append(data[body_start:])
            pos = len(data)
    return statuses, bodies, notes


def exchange(port, raw, seconds, stop_when_complete=False):
    """Send raw on a fresh connection; read until close or `seconds` pass.

    Never shuts down the write side.  Returns (bytes, how_it_ended).
    """
    s = socket.create_connection((LOCAL, port), timeout=seconds)
    data = b""
    ended = "open after %.0fs" % seconds
    try:
        s.sendall(raw)
        deadline = time.time() + seconds
        while True:
            left = deadline - time.time()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                ended = "reset"
                break
            if not chunk:
                ended = "closed"
                break
            data += chunk
            if stop_when_complete:
                st, bodies, notes = parse_responses(data)
                if st and not notes and len(bodies) == len(st):
                    ended = "complete"
                    break
    except (BrokenPipeError, ConnectionResetError):
        ended = "reset"
    finally:
        s.close()
    return data, ended


# --------------------------------------------------------------------------
# Proxies
# --------------------------------------------------------------------------


def nginx_conf(d, port, origin_port):
    return f"""# generated by benches/peers/smuggling.py
worker_processes 1;
user root;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream origin {{
        server {LOCAL}:{origin_port};
        keepalive 4;
    }}
    server {{
        listen {LOCAL}:{port};
        server_name site.test;
        location / {{
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
        }}
    }}
}}
"""


def haproxy_cfg(d, port, origin_port):
    return f"""# generated by benches/peers/smuggling.py
global
    maxconn 256
    pidfile {d}/haproxy.pid

defaults
    mode http
    timeout connect 3s
    timeout client 5s
    timeout server 5s
    timeout http-request 5s

frontend fe
    bind {LOCAL}:{port}
    default_backend be

backend be
    http-reuse always
    server origin {LOCAL}:{origin_port}
"""


def wait_port(port, proc, seconds=5.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection((LOCAL, port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Proxy:
    def __init__(self, name, argv, port, logs):
        self.name = name
        self.argv = argv
        self.port = port
        self.logs = logs
        self.proc = None

    def start(self, d):
        out = open(os.path.join(d, self.name + ".out"), "wb")
        self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        if not wait_port(self.port, self.proc):
            msg = ""
            for p in self.logs + [os.path.join(d, self.name + ".out")]:
                if os.path.exists(p):
                    with open(p, errors="replace") as f:
                        msg += f"--- {p}\n{f.read()[-2000:]}\n"
            raise RuntimeError(f"{self.name} did not start: {self.argv}\n{msg}")

    def stop(self):
        p = self.proc
        if p is None or p.poll() is not None:
            return
        try:
            p.send_signal(signal.SIGTERM)  # nginx: fast shutdown; haproxy: hard stop
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()  # only the pid we started
            p.wait(timeout=5)


def version_line(argv):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    text = (r.stdout + r.stderr).strip()
    return text.splitlines()[0] if text else "?"


# --------------------------------------------------------------------------
# Running a case
# --------------------------------------------------------------------------


def saw(rec):
    if rec.get("malformed"):
        return "(malformed) " + rec["target"]
    s = f"{rec['method']} {rec['target']}"
    host = rec["host"]
    if host == []:
        s += " [no Host]"
    elif isinstance(host, list):
        s += " [Host: %s]" % ", ".join(host)
    elif host != "site.test":
        s += f" [Host: {host}]"
    if rec["version"] != "HTTP/1.1":
        s += f" [{rec['version']}]"
    if not rec.get("body_complete", True):
        s += " [body incomplete]"
    return s


def run_case(proxy, origin, raw):
    origin.take()
    data, ended = exchange(proxy.port, raw, CASE_READ_SECONDS)
    time.sleep(0.05)
    recs = origin.take()
    statuses, _bodies, notes = parse_responses(data)
    fdata, fended = exchange(proxy.port, FOLLOWUP, FOLLOWUP_SECONDS, stop_when_complete=True)
    time.sleep(0.1)
    frecs = origin.take()
    fstatuses, fbodies, _ = parse_responses(fdata)
    follow_ok = fstatuses[:1] == [200] and fbodies[:1] == [FOLLOWUP_BODY]
    all_recs = recs + frecs
    return {
        "statuses": statuses,
        "connection": ended,
        "notes": notes,
        "response_head": data[:120].decode("latin-1"),
        "origin_saw": [saw(r) for r in recs],
        "origin_records": [{k: v for k, v in r.items() if k != "t"} for r in recs],
        "smuggled_reached_origin": any(
            (r.get("target") or "").endswith("/smuggled") or "/smuggled" in (r.get("target") or "")
            for r in all_recs),
        "followup_ok": follow_ok,
        "followup_statuses": fstatuses,
        "followup_body": fbodies[0].decode("latin-1")[:200] if fbodies else None,
        "followup_origin_saw": [saw(r) for r in frecs],
    }


def md_cell(values):
    if not values:
        return "—"
    return ", ".join("`%s`" % str(v).replace("|", "\\|").replace("`", "'") for v in values)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=DEFAULT_CORPUS)
    ap.add_argument("--out-dir", default=HERE)
    ap.add_argument("--keep-dir", action="store_true", help="keep the temp config/log dir")
    args = ap.parse_args()

    with open(args.corpus) as f:
        cases = json.load(f)

    for b in ("nginx", "haproxy"):
        if shutil.which(b) is None and not os.path.exists("/usr/sbin/" + b):
            sys.exit(f"{b} not found")
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    haproxy_bin = shutil.which("haproxy") or "/usr/sbin/haproxy"

    def on_alarm(_sig, _frm):
        raise Watchdog(f"run exceeded {WATCHDOG_SECONDS}s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(WATCHDOG_SECONDS)

    date = subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip()
    nginx_version = version_line([nginx_bin, "-v"])
    haproxy_version = version_line([haproxy_bin, "-v"])

    d = tempfile.mkdtemp(prefix="ferry-smuggling-")
    origins = {"nginx": Origin("nginx"), "haproxy": Origin("haproxy")}
    nport, hport = free_port(), free_port()
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(nginx_conf(d, nport, origins["nginx"].port))
    with open(os.path.join(d, "haproxy.cfg"), "w") as f:
        f.write(haproxy_cfg(d, hport, origins["haproxy"].port))
    proxies = {
        "nginx": Proxy("nginx", [nginx_bin, "-p", d, "-e", os.path.join(d, "error.log"),
                                 "-c", os.path.join(d, "nginx.conf"), "-g", "daemon off;"],
                       nport, [os.path.join(d, "error.log")]),
        "haproxy": Proxy("haproxy", [haproxy_bin, "-db", "-f", os.path.join(d, "haproxy.cfg")],
                         hport, []),
    }
    results = []
    t0 = time.time()
    try:
        for p in proxies.values():
            p.start(d)
        for case in cases:
            raw = case["raw"].encode("latin-1")
            row = {"name": case["name"]}
            errors = {}

            # Each proxy has its own origin, so both run side by side.
            def work(pname):
                try:
                    row[pname] = run_case(proxies[pname], origins[pname], raw)
                except Exception as e:  # noqa: BLE001 - record and go on
                    errors[pname] = repr(e)

            threads = [threading.Thread(target=work, args=(n,)) for n in proxies]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for pname, err in errors.items():
                row[pname] = {"error": err, "statuses": [], "origin_saw": [],
                              "smuggled_reached_origin": False, "followup_ok": False}
            results.append(row)
            print("%-42s nginx %-10s %-32s haproxy %-10s %s" % (
                case["name"], row["nginx"]["statuses"], row["nginx"]["origin_saw"],
                row["haproxy"]["statuses"], row["haproxy"]["origin_saw"]), flush=True)
    finally:
        for p in proxies.values():
            p.stop()
        for o in origins.values():
            o.stop()
        signal.alarm(0)
        if args.keep_dir:
            print("kept", d)
        else:
            shutil.rmtree(d, ignore_errors=True)

    elapsed = time.time() - t0
    by_name = {r["name"]: {"nginx": r["nginx"], "haproxy": r["haproxy"]} for r in results}
    corpus_rel = os.path.relpath(args.corpus, ROOT)
    # A list of objects keyed by case name ("name"), in corpus order; the
    # date and versions are repeated in each so every row stands alone.
    doc = [dict(name=r["name"], date=date, nginx_version=nginx_version,
                haproxy_version=haproxy_version, **by_name[r["name"]]) for r in results]
    with open(os.path.join(args.out_dir, "smuggling-peers.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")

    lines = [
        "# Request-smuggling corpus: nginx and HAProxy",
        "",
        f"- Date: {date}",
        f"- nginx: {nginx_version}",
        f"- HAProxy: {haproxy_version}",
        f"- Corpus: `{corpus_rel}` ({len(results)} cases); generated by "
        "`benches/peers/smuggling.py` in {:.0f}s.".format(elapsed),
        "",
        "Each case is sent on a fresh connection; we read for up to "
        f"{CASE_READ_SECONDS:.0f}s without half-closing. \"origin saw\" lists the request "
        "lines a recording origin received behind the proxy (Host shown when not "
        "`site.test`). Follow-up = a clean `GET /next` on a new connection answered with "
        "`origin: GET /next`. nginx: upstream keepalive 4, `proxy_http_version 1.1`, "
        "`proxy_set_header Host $http_host`. HAProxy: `mode http`, `http-reuse always`.",
        "",
        "| case | nginx statuses | nginx origin saw | haproxy statuses | haproxy origin saw "
        "| follow-up ok (nginx/haproxy) |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        n, h = r["nginx"], r["haproxy"]
        fo = "%s/%s" % ("yes" if n["followup_ok"] else "**NO**",
                        "yes" if h["followup_ok"] else "**NO**")
        lines.append("| %s | %s | %s | %s | %s | %s |" % (
            r["name"].replace("|", "\\|"), md_cell(n["statuses"]), md_cell(n["origin_saw"]),
            md_cell(h["statuses"]), md_cell(h["origin_saw"]), fo))
    smuggled = [(r["name"], p) for r in results for p in ("nginx", "haproxy")
                if r[p]["smuggled_reached_origin"]]
    failed = [(r["name"], p) for r in results for p in ("nginx", "haproxy")
              if not r[p]["followup_ok"]]
    lines += ["", "`/smuggled` reached the origin: " +
              (", ".join(f"{c} ({p})" for c, p in smuggled) if smuggled else "never") + ".",
              "Follow-up failed: " +
              (", ".join(f"{c} ({p})" for c, p in failed) if failed else "never") + ".", ""]
    with open(os.path.join(args.out_dir, "smuggling-peers.md"), "w") as f:
        f.write("\n".join(lines))
    print(f"wrote smuggling-peers.md / smuggling-peers.json in {args.out_dir} ({elapsed:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
