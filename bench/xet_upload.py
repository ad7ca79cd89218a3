"""Uploads FILE as PATH_IN_REPO of REPO with huggingface_hub and prints the seconds
upload_file took. Whether hf_xet (Xet) or the legacy LFS basic transfer is used follows
HF_HUB_DISABLE_XET, as for any user.

    python bench/xet_upload.py REPO FILE PATH_IN_REPO
"""
import sys
import time

from huggingface_hub import HfApi

repo, path, name = sys.argv[1:4]
t = time.perf_counter()
HfApi().upload_file(path_or_fileobj=path, path_in_repo=name, repo_id=repo)
print(f"{time.perf_counter() - t:.3f}")
