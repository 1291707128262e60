#!/usr/bin/env python3
"""A hostile client for the metrics endpoint: everything at once, until SECONDS pass.

Usage: hammer.py HOST PORT SECONDS [--connections N] [--legit-only]

- prometheus: a well-behaved scraper, GET /metrics on a fresh connection every second (10 s
  timeout, as Prometheus), whose answer times are reported (the only thread with --legit-only);
- slowloris: N connections (default 1000) each sending one more byte of a request every second,
  reopened when the server drops them;
- flood: connections opened and closed as fast as possible, sending garbage, a 16 KiB header or
  a request line of 64 KiB;
- scrapes: GET /metrics on one keep-alive connection as fast as the answers come.
Prints one JSON line of counts and scrape times at the end (also on SIGTERM). Standard library
only.
"""
import json
import os
import random
import signal
import socket
import sys
import threading
import time


def main():
    host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    n_slow = int(sys.argv[sys.argv.index("--connections") + 1]) if "--connections" in sys.argv else 1000
    deadline = time.monotonic() + seconds
    stop = threading.Event()  # set at the deadline or on SIGTERM / SIGINT

    def running():
        return not stop.is_set() and time.monotonic() < deadline

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    legit_only = "--legit-only" in sys.argv
    stats = {"slow_opened": 0, "slow_dropped_by_server": 0, "flood_connections": 0,
             "flood_answered_400": 0, "scrapes": 0, "scrape_errors": 0,
             "prometheus_scrapes": 0, "prometheus_failures": 0}
    latencies = []
    lock = threading.Lock()

    def count(key, n=1):
        with lock:
            stats[key] += n

    def connect(timeout=2.0):
        s = socket.create_connection((host, port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def slowloris():
        request = b"GET /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent: slow\r\n" + b"X-a: b\r\n" * 100
        socks = []  # [socket, bytes sent]
        while running():
            while len(socks) < n_slow and running():
                try:
                    s = connect()
                    s.setblocking(False)
                    socks.append([s, 0])
                    count("slow_opened")
                except OSError:
                    break
            tick = time.monotonic()
            keep = []
            for entry in socks:
                s, sent = entry
                try:
                    if s.recv(4096) == b"":
                        raise ConnectionResetError
                except BlockingIOError:
                    pass
                except OSError:
                    count("slow_dropped_by_server")
                    s.close()
                    continue
                try:
                    s.send(request[sent % len(request):sent % len(request) + 1])
                    entry[1] = sent + 1
                    keep.append(entry)
                except OSError:
                    count("slow_dropped_by_server")
                    s.close()
            socks = keep
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        for s, _ in socks:
            s.close()

    def flood():
        rng = random.Random(5)
        payloads = [
            lambda: bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 2000))),
            lambda: b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 16384 + b"\r\n\r\n",
            lambda: b"GET /" + b"x" * 65536 + b" HTTP/1.1\r\n\r\n",
        ]
        while running():
            try:
                s = connect()
                count("flood_connections")
                s.sendall(payloads[rng.randrange(len(payloads))]())
                s.shutdown(socket.SHUT_WR)
                s.settimeout(0.5)
                if s.recv(64).startswith(b"HTTP/1.1 400"):
                    count("flood_answered_400")
            except OSError:
                pass
            finally:
                try:
                    s.close()
                except Exception:
                    pass

    def scrapes():
        s = None
        while running():
            try:
                if s is None:
                    s = connect()
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = s.recv(65536)
                    if not chunk:
                        raise ConnectionResetError
                    data += chunk
                head, body = data.split(b"\r\n\r\n", 1)
                length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
                while len(body) < length:
                    chunk = s.recv(65536)
                    if not chunk:
                        raise ConnectionResetError
                    body += chunk
                count("scrapes")
            except (OSError, IndexError, ValueError):
                count("scrape_errors")
                if s is not None:
                    s.close()
                s = None
                time.sleep(0.01)

    def read_answer(s):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionResetError
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 200"):
            raise ValueError(head[:40])
        length = int([l for l in head.split(b"\r\n")
                      if l.lower().startswith(b"content-length:")][0].split(b":")[1])
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionResetError
            body += chunk

    def prometheus():
        while running():
            tick = time.monotonic()
            try:
                s = connect(timeout=10.0)
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                read_answer(s)
                s.close()
                with lock:
                    latencies.append(time.monotonic() - tick)
                count("prometheus_scrapes")
            except (OSError, IndexError, ValueError):
                count("prometheus_failures")
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))

    workers = (prometheus,) if legit_only else (prometheus, slowloris, flood, scrapes)
    threads = [threading.Thread(target=f) for f in workers]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        for t in threads:
            t.join(0.2)
    if latencies:
        ordered = sorted(latencies)
        stats["prometheus_median_s"] = round(ordered[len(ordered) // 2], 4)
        stats["prometheus_max_s"] = round(ordered[-1], 4)
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()
