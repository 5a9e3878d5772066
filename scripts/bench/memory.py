#!/usr/bin/env python3
"""Resident memory of `keyward serve` through a long run of password checks (BENCHMARKS.md, "Memory").

Starts the given keyward binary on a fresh data directory, signs up one account, then sends LOGINS
correct-password logins (each one argon2id verification, 19 MiB of working memory) from CONCURRENCY
threads, sampling the process's VmRSS every 50 ms. Prints the start, peak and final resident size.

    python3 scripts/bench/memory.py target/release/keyward [LOGINS] [CONCURRENCY]
"""
import sys
import threading
import time

from server import PASSWORD, Server


def main():
    binary = sys.argv[1]
    logins = int(sys.argv[2]) if len(sys.argv) > 2 else 400
    concurrency = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    server = Server(binary)
    try:
        start = server.rss_kib()
        server.sign_up("Memory", "boss@memory.example")
        samples, done = [start], threading.Event()

        def sample():
            while not done.is_set():
                samples.append(server.rss_kib())
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
                status, _ = server.submit("/login", {"email": "boss@memory.example", "password": PASSWORD}, source)
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
        final = server.rss_kib()
        print(f"logins: {logins} ({failures[0]} not 303) from {concurrency} threads in {elapsed:.1f} s "
              f"({logins / elapsed:.1f}/s){' ' + str(statuses) if statuses else ''}")
        print(f"resident: start {start / 1024:.1f} MiB, peak {max(samples) / 1024:.1f} MiB, "
              f"1 s after the last {final / 1024:.1f} MiB")
        return 0 if failures[0] == 0 else 1
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
