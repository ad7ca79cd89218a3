#!/usr/bin/env python3
"""Cross-node visibility (bench/cluster.sh): N pushes through node A, each to a repo node B
has just answered for (so B holds main's old commit in its cache); the time from the end of
`git push` to B answering the new commit, polled every millisecond. Prints median, p99, max.

    bench/visibility.py A_URL B_URL TOKEN REPO N WORKDIR
"""

import http.client
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.parse


def main():
    a, b, token, repo, n, work = sys.argv[1:7]
    n = int(n)
    bu = urllib.parse.urlparse(b)
    conn = http.client.HTTPConnection(bu.hostname, bu.port, timeout=30)

    def main_on_b():
        conn.request("GET", f"/api/models/{repo}/revision/main", headers={"Authorization": f"Bearer {token}"})
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            sys.exit(f"B answered {r.status}: {body[:200]!r}")
        return json.loads(body)["sha"]

    au = urllib.parse.urlparse(a)
    clone = os.path.join(work, "visibility")
    git = ["git", "-C", clone]
    subprocess.run(["git", "clone", "-q", f"http://hf_user:{token}@{au.netloc}/{repo}", clone], check=True)
    delays = []
    for i in range(n):
        with open(os.path.join(clone, "counter.txt"), "w") as f:
            f.write(f"{i}\n")
        subprocess.run(git + ["add", "counter.txt"], check=True)
        subprocess.run(git + ["commit", "-qm", f"push {i}"], check=True)
        new = subprocess.run(git + ["rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
        main_on_b()  # B caches the old commit
        subprocess.run(git + ["push", "-q", "origin", "main"], check=True, capture_output=True)
        t0 = time.perf_counter()
        while main_on_b() != new:
            time.sleep(0.001)
        delays.append((time.perf_counter() - t0) * 1000)
    delays.sort()
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(f"  push through A -> served by B: median {statistics.median(delays):6.1f} ms   "
          f"p99 {p99:6.1f} ms   max {delays[-1]:6.1f} ms   ({n} pushes)")


if __name__ == "__main__":
    main()
