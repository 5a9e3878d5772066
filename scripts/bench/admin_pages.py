#!/usr/bin/env python3
"""How "Users & Security" grows with an account (BENCHMARKS.md, "Admin pages").

Starts each given keyward binary on a fresh data directory (SQLite), signs up one account, adds users
through "Add user" up to each size, and times GET /account/users ROUNDS times at each size; prints the
median and the 90th percentile in milliseconds. Several binaries (before and after a change) run one
after the other in the same invocation, so their figures compare.

    python3 scripts/bench/admin_pages.py BINARY [BINARY...] [--sizes 50,200,1000] [--rounds 20]
"""
import http.client
import re
import statistics
import sys
import time

from server import PASSWORD, Server


def session_cookie(server, email):
    """Logs in (2FA is not active) and returns the session's cookie header."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    connection.request("GET", "/login")
    response = connection.getresponse()
    page = response.read().decode()
    cookies = [v.split(";")[0] for k, v in response.getheaders() if k.lower() == "set-cookie"]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    body = f"csrf={csrf}&email={email}&password={PASSWORD.replace(' ', '+')}"
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": "; ".join(cookies)}
    connection.request("POST", "/login", body, headers)
    response = connection.getresponse()
    response.read()
    cookies += [v.split(";")[0] for k, v in response.getheaders() if k.lower() == "set-cookie"]
    return "; ".join(c for c in cookies if "session" in c)


def measure(binary, sizes, rounds):
    server = Server(binary)
    try:
        admin = "boss@pages.example"
        server.sign_up("Pages", admin)
        cookie = session_cookie(server, admin)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        # The form token is derived from the session, so one page's serves every form of the session.
        connection.request("GET", "/account/users", headers={"Cookie": cookie})
        csrf = re.search(r'name="csrf" value="([^"]+)"', connection.getresponse().read().decode()).group(1)
        users = 1
        results = []
        for size in sizes:
            while users < size:
                body = f"csrf={csrf}&email=user{users}%40pages.example"
                headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
                connection.request("POST", "/account/users", body, headers)
                response = connection.getresponse()
                response.read()
                assert response.status == 200, f"add user answered {response.status}"
                users += 1
            timings = []
            for _ in range(rounds):
                began = time.perf_counter()
                connection.request("GET", "/account/users", headers={"Cookie": cookie})
                response = connection.getresponse()
                response.read()
                timings.append((time.perf_counter() - began) * 1000)
                assert response.status == 200
            timings.sort()
            results.append((size, statistics.median(timings), timings[int(len(timings) * 0.9) - 1]))
        return results
    finally:
        server.stop()


def main():
    args = sys.argv[1:]
    sizes, rounds, binaries = [50, 200, 1000], 20, []
    while args:
        arg = args.pop(0)
        if arg == "--sizes":
            sizes = [int(s) for s in args.pop(0).split(",")]
        elif arg == "--rounds":
            rounds = int(args.pop(0))
        else:
            binaries.append(arg)
    for binary in binaries:
        for size, median, p90 in measure(binary, sizes, rounds):
            print(f"{binary}\t{size} users\tmedian {median:.1f} ms\tp90 {p90:.1f} ms", flush=True)


if __name__ == "__main__":
    main()
