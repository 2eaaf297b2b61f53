"""A real S3-protocol server on loopback: moto's standalone server as a process of its own, reached over HTTP by
boto3 exactly as S3 or MinIO would be, and buckets in it configured through the project's own settings."""

import os
import runpy
import sys
import urllib.request
import uuid
from pathlib import Path
from unittest import mock

import boto3

from tests.support.embedded import free_port
from tests.support.processes import ROOT, ManagedProcess, wait_until

# moto accepts any key pair; these only have to be the same on every side.
ACCESS_KEY, SECRET_KEY, REGION = "test-access-key", "test-secret-key", "eu-central-1"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


class ObjectStorageServer:
    """moto_server on a free loopback port; `bucket()` makes a fresh bucket there."""

    def __init__(self, log_dir: Path):
        self.endpoint = f"http://127.0.0.1:{free_port()}"
        port = self.endpoint.rsplit(":", 1)[1]
        self.process = ManagedProcess(
            "moto-server", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", port], os.environ, log_dir
        )
        wait_until(lambda: _answers(f"{self.endpoint}/moto-api/"), 30, "moto server never answered", self.process)

    def bucket(self) -> "Bucket":
        bucket = Bucket(self.endpoint, f"test-{uuid.uuid4().hex[:16]}")
        bucket.client().create_bucket(Bucket=bucket.name, CreateBucketConfiguration={"LocationConstraint": REGION})
        return bucket

    def stop(self) -> None:
        self.process.stop()


class Bucket:
    def __init__(self, endpoint: str, name: str):
        self.endpoint = endpoint
        self.name = name

    def env(self) -> dict[str, str]:
        """The variables a deploy sets (.env.example) to store files in this bucket."""
        return {
            "AWS_STORAGE_BUCKET_NAME": self.name,
            "AWS_S3_ENDPOINT_URL": self.endpoint,
            "AWS_S3_REGION_NAME": REGION,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def storages(self) -> dict:
        """STORAGES as myproject/settings.py makes it from env(): a test process runs what a deploy runs."""
        with mock.patch.dict(os.environ, self.env()):
            return runpy.run_path(str(ROOT / "myproject" / "settings.py"))["STORAGES"]

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def keys(self, prefix: str = "") -> list[str]:
        listing = self.client().list_objects_v2(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.client().get_object(Bucket=self.name, Key=key)["Body"].read()

    def empty(self) -> None:
        for key in self.keys():
            self.client().delete_object(Bucket=self.name, Key=key)

    def public_grants(self, key: str) -> list[dict]:
        """Grants of the object to everyone or to any AWS account (moto serves unsigned requests whatever the
        ACL, so the ACL itself is what can be checked here)."""
        grants = self.client().get_object_acl(Bucket=self.name, Key=key)["Grants"]
        return [
            grant for grant in grants if grant["Grantee"].get("URI", "").endswith(("/AllUsers", "/AuthenticatedUsers"))
        ]
