#!/usr/bin/env python3
"""Listing and search latency against one modelhub (bench/cluster.sh): each request a query
no earlier request asked (another search word, page or cursor), so none is answered from the
server's two-second listing cache; one client, sequential, keep-alive, after a few warm-up
queries of each kind at other pages. Prints one line per scenario: median and p99 in
milliseconds.

    bench/listing.py URL REQUESTS LABEL      (LISTING_SLOWEST=1: also the three slowest)
"""

import http.client
import os
import statistics
import sys
import time
import urllib.parse

WORDS = """llama bert mistral gemma qwen phi falcon gpt2 t5 bart roberta deberta electra
whisper wav2vec clip vit swin convnext resnet yolo detr sam dino stable sdxl flux mamba
rwkv bloom opt pythia olmo starcoder codellama deepseek yi baichuan internlm chatglm""".split()


def scenarios(n):
    # list_models(search=WORD, limit=50), as huggingface_hub sends it, at growing cursors.
    yield "api search", [f"/api/models?search={WORDS[i % len(WORDS)]}&limit=50&cursor={i // len(WORDS)}"
                         for i in range(n)]
    # list_models(sort="downloads", limit=50): the most downloaded, page by page.
    yield "api sort=downloads", [f"/api/models?sort=downloads&direction=-1&limit=50&cursor={i}" for i in range(n)]
    # list_models(filter="text-generation", search=WORD).
    yield "api filter+search", [f"/api/models?filter=text-generation&search={WORDS[i % len(WORDS)][:3]}&limit=50&cursor={i // len(WORDS)}"
                                for i in range(n)]
    # The models page: 30 a page, with the total count of matches.
    yield "page /models", [f"/models?p={i}" for i in range(n)]
    yield "page /models?search", [f"/models?search={WORDS[i % len(WORDS)]}&p={i // len(WORDS)}" for i in range(n)]


def main():
    url, n, label = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    # A server in use has its hot index pages in memory: a few queries of each kind first,
    # none of them repeated below.
    for _, paths in scenarios(2 * len(WORDS)):
        for p in paths[:10]:
            conn.request("GET", p.replace("cursor=", "cursor=70").replace("p=", "p=70"))
            conn.getresponse().read()
    for name, paths in scenarios(n):
        times = []
        for p in paths:
            t0 = time.perf_counter()
            conn.request("GET", p)
            r = conn.getresponse()
            body = r.read()
            times.append((time.perf_counter() - t0) * 1000)
            if r.status != 200:
                sys.exit(f"{p}: {r.status} {body[:200]!r}")
        if os.environ.get("LISTING_SLOWEST"):
            print("   slowest:", sorted(zip(times, paths), reverse=True)[:3])
        times.sort()
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        print(f"  {label:<22} {name:<22} median {statistics.median(times):7.2f} ms   p99 {p99:7.2f} ms")


if __name__ == "__main__":
    main()
