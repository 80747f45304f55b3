"""What the boto3 scripts of tests/aws_api.rs share: a client for the ferry admin listener named
by FERRY_ENDPOINT, and AWS errors written as one line."""

import os
import sys

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError
except ImportError:  # pragma: no cover - the Rust side checks this first
    sys.exit("boto3 is missing: run ./test.sh, which installs it in $HOME/.cache/ferry-venv")


def client(service):
    """A boto3 client for `service` against the running ferry, with no retries (an error must
    show on the first answer)."""
    return boto3.client(
        service,
        endpoint_url=os.environ["FERRY_ENDPOINT"],
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def error_line(operation, call, **params):
    """Calls `call(**params)` expecting an AWS error; prints `error OPERATION CODE STATUS`."""
    try:
        call(**params)
    except ClientError as e:
        code = e.response["Error"]["Code"]
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        print(f"error {operation} {code} {status}")
        return code
    print(f"error {operation} none 200")
    return None


def run(commands):
    """Runs the subcommand named by argv[1] with the rest of argv."""
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(sorted(commands))} ARGS...")
    commands[sys.argv[1]](*sys.argv[2:])
