"""What the benchmark scripts share: a `keyward serve` on a fresh data directory (e-mail to its outbox
folder), forms posted with their CSRF token, and accounts signed up through the e-mailed link."""
import http.client
import os
import re
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

PASSWORD = "correct horse battery"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`keyward serve` on a free port and a fresh data directory; stopped by `stop()`."""

    def __init__(self, binary):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data = tempfile.mkdtemp(prefix="keyward-bench-")
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEYWARD_")}
        env.update(KEYWARD_LISTEN=f"127.0.0.1:{self.port}", KEYWARD_DATA_DIR=self.data, KEYWARD_LOG="warn")
        self.process = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL)
        for _ in range(200):
            try:
                urllib.request.urlopen(self.base + "/readyz")
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("keyward serve did not become ready")

    def submit(self, path, fields, source="127.0.0.1"):
        """Opens the form at `path` and posts `fields` with its CSRF token, from the loopback address
        `source`; returns the POST's status and its duration in seconds."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120, source_address=(source, 0))
        connection.request("GET", path)
        response = connection.getresponse()
        page = response.read().decode()
        cookies = [v.split(";")[0] for k, v in response.getheaders() if k.lower() == "set-cookie"]
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode({"csrf": csrf, **fields})
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": "; ".join(cookies)}
        began = time.perf_counter()
        connection.request("POST", path, body, headers)
        response = connection.getresponse()
        response.read()
        elapsed = time.perf_counter() - began
        connection.close()
        return response.status, elapsed

    def outbox_link(self, to, pattern):
        """The first link matching `pattern` in an e-mail to `to` in the outbox folder, once it is there."""
        outbox = os.path.join(self.data, "outbox")
        for _ in range(200):
            for name in sorted(os.listdir(outbox)) if os.path.isdir(outbox) else []:
                with open(os.path.join(outbox, name)) as mail:
                    text = mail.read().replace("=\n", "").replace("=3D", "=")
                found = re.search(pattern, text)
                if f"To: {to}" in text and found:
                    return found.group(0)
            time.sleep(0.05)
        raise SystemExit(f"no e-mail to {to} with a link {pattern} arrived in the outbox folder")

    def sign_up(self, account, email):
        """Signs up an account with its admin `email` (password PASSWORD) through the e-mailed link."""
        status, _ = self.submit("/signup", {"account_name": account, "email": email, "password": PASSWORD})
        assert status == 200, f"sign-up answered {status}"
        status, _ = self.submit(self.outbox_link(email, r"/signup/[A-Za-z0-9._-]+"), {})
        assert status == 303, f"the sign-up link answered {status}"

    def rss_kib(self):
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        self.process.terminate()
        self.process.wait()
