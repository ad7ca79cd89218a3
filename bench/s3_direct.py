"""The direct S3 client bench/s3.sh compares modelhub with: boto3's managed transfers, with the
part size and parts in flight modelhub uses, against the same SeaweedFS.

    s3_direct.py upload FILE BUCKET KEY PART_MIB CONCURRENCY
    s3_direct.py download BUCKET KEY PART_MIB CONCURRENCY      (bytes go to /dev/null)
    s3_direct.py delete BUCKET KEY
    s3_direct.py presign BUCKET KEY                            (prints a 10-minute GET URL)

Endpoint and credentials come from the AWS environment (AWS_ENDPOINT_URL, ...).
"""

import sys

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config


def client():
    return boto3.client("s3", config=Config(s3={"addressing_style": "path"}))


def transfer(part_mib, concurrency):
    part = int(part_mib) << 20
    return TransferConfig(
        multipart_threshold=part,
        multipart_chunksize=part,
        max_concurrency=int(concurrency),
        use_threads=int(concurrency) > 1,
    )


def main():
    op = sys.argv[1]
    if op == "upload":
        path, bucket, key, part, conc = sys.argv[2:7]
        client().upload_file(path, bucket, key, Config=transfer(part, conc))
    elif op == "download":
        bucket, key, part, conc = sys.argv[2:6]
        with open("/dev/null", "wb") as sink:
            client().download_fileobj(bucket, key, sink, Config=transfer(part, conc))
    elif op == "presign":
        bucket, key = sys.argv[2:4]
        params = {"Bucket": bucket, "Key": key}
        print(client().generate_presigned_url("get_object", Params=params, ExpiresIn=600))
    elif op == "delete":
        bucket, key = sys.argv[2:4]
        client().delete_object(Bucket=bucket, Key=key)
    else:
        sys.exit(f"unknown operation {op}")


if __name__ == "__main__":
    main()
