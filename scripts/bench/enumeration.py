#!/usr/bin/env python3
"""Whether the time of an answer tells a known address from an unknown one (SECURITY.md, "Enumeration").

Starts the given keyward binary on a fresh data directory, signs up KNOWN accounts, then times, one
request at a time and interleaved, the POSTs of:
  - login with a wrong password for a known address, and for an unknown one;
  - "Forgot password" for a known address, and for an unknown one.
Each request comes from its own loopback address, and each known address gets at most 10 wrong
passwords, so no throttle answers early. Prints the median and 90th percentile of each, and how often the
best single threshold on the time tells the two apart (50% is a coin toss; the control line shows what
the same search finds between two halves of the unknown addresses, which differ in nothing).

    python3 scripts/bench/enumeration.py target/release/keyward [SAMPLES] [KNOWN]
"""
import statistics
import sys

from server import Server


def threshold_accuracy(known, unknown):
    """The share of samples the best threshold (either direction) classifies correctly."""
    labelled = sorted([(t, 1) for t in known] + [(t, 0) for t in unknown])
    total, known_count = len(labelled), len(known)
    best, below_known = 0.5, 0
    for index, (_, is_known) in enumerate(labelled, start=1):
        below_known += is_known
        below_unknown = index - below_known
        # "below the threshold means known" and "below means unknown"
        correct_a = below_known + (len(unknown) - below_unknown)
        correct_b = below_unknown + (known_count - below_known)
        best = max(best, correct_a / total, correct_b / total)
    return best


def describe(name, known, unknown):
    ms = lambda values, q: statistics.quantiles(values, n=10)[q] * 1000
    print(f"{name}: known median {statistics.median(known) * 1000:.2f} ms (p90 {ms(known, 8):.2f}), "
          f"unknown median {statistics.median(unknown) * 1000:.2f} ms (p90 {ms(unknown, 8):.2f}); "
          f"best threshold tells them apart {threshold_accuracy(known, unknown) * 100:.0f}% of the time")


def main():
    binary = sys.argv[1]
    samples = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    known_accounts = int(sys.argv[3]) if len(sys.argv) > 3 else max(1, samples // 10)
    server = Server(binary)
    try:
        emails = [f"boss{n}@known{n}.example" for n in range(known_accounts)]
        for n, email in enumerate(emails):
            server.sign_up(f"Known {n}", email)
        timings = {key: [] for key in ("login known", "login unknown", "forgot known", "forgot unknown")}
        source = iter(f"127.1.{n // 250}.{1 + n % 250}" for n in range(1_000_000))
        for n in range(samples):
            known, unknown = emails[n % len(emails)], f"nobody{n}@unknown.example"
            for label, email in (("known", known), ("unknown", unknown)):
                status, took = server.submit("/login", {"email": email, "password": "wrong password"}, next(source))
                assert status == 422, f"login for {email} answered {status}"
                timings[f"login {label}"].append(took)
                status, took = server.submit("/password/forgot", {"email": email}, next(source))
                assert status == 200, f"forgot password for {email} answered {status}"
                timings[f"forgot {label}"].append(took)
        print(f"{samples} samples of each, {known_accounts} known addresses")
        describe("login, wrong password", timings["login known"], timings["login unknown"])
        describe("forgot password", timings["forgot known"], timings["forgot unknown"])
        # The noise floor: the same threshold search between two halves of the unknown addresses.
        for kind in ("login", "forgot"):
            unknown = timings[f"{kind} unknown"]
            print(f"control, {kind}: two halves of the unknown addresses told apart "
                  f"{threshold_accuracy(unknown[::2], unknown[1::2]) * 100:.0f}% of the time")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
