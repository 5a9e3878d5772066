#!/usr/bin/env python3
"""Resident memory of `keyward serve` through a long run of password checks (BENCHMARKS.md, "Memory").

Starts the given keyward binary on a fresh data directory, signs up one account, then sends LOGINS
correct-password logins (each one argon2id verification, 19 MiB of working memory) from CONCURRENCY
threads, sampling the process's VmRSS every 50 ms. Prints the start, peak and final resident size.

    python3 scripts/bench/memory.py target/release/keyward [LOGINS] [CONCURRENCY]
"""
import http.client
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

PASSWORD = "correct horse battery"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def submit(port, path, fields, source="127.0.0.1"):
    """Opens the form at `path` and posts `fields` with its CSRF token, from the loopback address `source`
    (each login comes from its own address, so the per-address password budget is not what is measured)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120, source_address=(source, 0))
    connection.request("GET", path)
    response = connection.getresponse()
    page = response.read().decode()
    cookies = [v.split(";")[0] for k, v in response.getheaders() if k.lower() == "set-cookie"]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"csrf": csrf, **fields})
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": "; ".join(cookies)}
    connection.request("POST", path, body, headers)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status


def sign_up_link(outbox):
    """The path of the sign-up link in the outbox folder, once the e-mail is there."""
    for _ in range(200):
        for name in sorted(os.listdir(outbox)) if os.path.isdir(outbox) else []:
            with open(os.path.join(outbox, name)) as mail:
                found = re.search(r"/signup/[A-Za-z0-9._-]+", mail.read().replace("=\n", ""))
            if found:
                return found.group(0)
        time.sleep(0.05)
    raise SystemExit("no sign-up e-mail arrived in the outbox folder")


def main():
    binary = sys.argv[1]
    logins = int(sys.argv[2]) if len(sys.argv) > 2 else 400
    concurrency = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data = tempfile.mkdtemp(prefix="keyward-memory-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYWARD_")}
    env.update(KEYWARD_LISTEN=f"127.0.0.1:{port}", KEYWARD_DATA_DIR=data, KEYWARD_LOG="warn")
    server = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/readyz")
                break
            except OSError:
                time.sleep(0.05)
        start = rss_kib(server.pid)
        status = submit(port, "/signup",
                        {"account_name": "Memory", "email": "boss@memory.example", "password": PASSWORD})
        assert status == 200, f"sign-up answered {status}"
        status = submit(port, sign_up_link(os.path.join(data, "outbox")), {})
        assert status == 303, f"the sign-up link answered {status}"
        samples, done = [start], threading.Event()

        def sample():
            while not done.is_set():
                samples.append(rss_kib(server.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        counter, failures, statuses, lock = [0], [0], {}, threading.Lock()

        def worker():
            while True:
                with lock:
                    if counter[0] >= logins:
                        return
                    counter[0] += 1
                    source = f"127.0.{1 + counter[0] // 250}.{1 + counter[0] % 250}"
                status = submit(port, "/login", {"email": "boss@memory.example", "password": PASSWORD}, source)
                if status != 303:
                    with lock:
                        failures[0] += 1
                        statuses[status] = statuses.get(status, 0) + 1

        began = time.monotonic()
        threads = [threading.Thread(target=worker) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - began
        time.sleep(1)
        done.set()
        sampler.join()
        final = rss_kib(server.pid)
        print(f"logins: {logins} ({failures[0]} not 303) from {concurrency} threads in {elapsed:.1f} s "
              f"({logins / elapsed:.1f}/s){' ' + str(statuses) if statuses else ''}")
        print(f"resident: start {start / 1024:.1f} MiB, peak {max(samples) / 1024:.1f} MiB, "
              f"1 s after the last {final / 1024:.1f} MiB")
        return 0 if failures[0] == 0 else 1
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    sys.exit(main())
