"""Scale benchmark: how the Lambda handler's memory, storage and time grow with the fleet.

The scanner must fit a fixed Lambda memory size whatever the fleet, and cost the same per
instance at 2,000 instances as at 32,000. This script measures that, on a moto server:

* it serves moto on 127.0.0.1 (in this process, behind a middleware counting each request by
  service and operation), one region (us-east-1);
* for each fleet size N it resets moto, seeds a mixed fleet of N instances (security groups open
  to the world on 22, 3306 or 443 or not, three AMIs, four instance types, none, some or all of
  the required tags, IMDSv2 required or not, public IPs, monitoring, encrypted volumes, key
  pairs: about 7 findings per instance under the default policy) and the report bucket;
* it runs the handler as its own process, `handler({}, context)` with a Lambda-like context,
  the default policy minus `ssm_managed` (moto's server lacks ssm:DescribeInstanceInformation),
  and measures that process: its peak RSS, its wall time, the API calls it made (S3 apart), and
  the bytes it left in the bucket.

Seeding is not part of the figures (its time is printed apart). By default the instances are
written into moto's EC2 backend in-process (`--seed backend`: 32,000 in about 5 s), the way
moto's RunInstances handler calls it, minus HTTP and the three scans it makes per instance (see
`_indexed`). Through RunInstances itself (`--seed api`, MaxCount 1,000 a call) seeding costs
6 s per 1,000 instances at first and 25 s by 16,000: 32,000 would take over 10 minutes.

Three things of moto's would otherwise measure moto rather than the handler, and are adjusted
in this process: each instance gets its own reservation (moto pages DescribeInstances by
reservations), an instance's tags are looked up by id (moto scans every tag of every resource
for each instance it returns, which makes DescribeInstances quadratic), and DescribeVolumes
honours MaxResults (moto returns every volume at once). After seeding, the fleet is frozen out
of the garbage collector's reach (gc.freeze) so that the server's collections do not grow with it.

Peak RSS is the handler process's own VmHWM, printed by that process at exit: the kernel's
ru_maxrss of a child (wait4) also counts the address space it was forked from, i.e. this
process with moto's whole fleet in it, so it measures the benchmark rather than the handler.

Goals: peak RSS at the largest N <= 1.25x the peak at the smallest N, and under 256 MB; at most
2 KB stored in S3 per instance; wall time per 1,000 instances within 1.2x between the smallest
and the largest N.

    .venv/bin/python benchmarks/scale.py [--instances 2000,8000,32000] [--check] [--keep-going]
"""

from __future__ import annotations

import argparse
import gc
import io
import ipaddress
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import boto3
from moto.backends import get_backend
from moto.core.responses import ActionResult
from moto.ec2.models.instances import Reservation
from moto.ec2.responses import EC2Response
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, generic_filter, get_prefix, random_reservation_id
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

REPO = Path(__file__).resolve().parents[1]
LAMBDA_SRC = REPO / "lambda_src"
REGION = "us-east-1"
ACCOUNT = "123456789012"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:bench"
BUCKET = "bench-compliance-reports"
POLICY = {"rules": {"ssm_managed": {"enabled": False}}}
DEFAULT_SIZES = "2000,8000,32000"
MAX_COUNT = 1000
S3_UPLOADS = frozenset({"PutObject", "UploadPart"})
VOLUME_PAGE_MAX = 500
VOLUME_ANSWERS_KEPT = 16
WILDCARDS = frozenset("*?[\\")
VOLUME_ID_FILTERS: dict[str, Callable[[Any], str | None]] = {
    "volume-id": lambda volume: volume.id,
    "attachment.instance-id": lambda volume: volume.attachment.instance_id if volume.attachment else None,
}
SUBNET_CIDR = "172.31.128.0/17"
"""A subnet of the default VPC (which keeps its internet gateway) big enough for 32,000
instances; moto's default subnets are /20s, 4,091 addresses each."""

GOAL_RSS_GROWTH = 1.25
GOAL_RSS_MB = 256
GOAL_BYTES_PER_INSTANCE = 2048
GOAL_TIME_GROWTH = 1.2

CHILD = """
import json, sys, time
started = time.monotonic()
from ec2c.scanner.run.handler import handler


class Context:
    invoked_function_arn = sys.argv[1]
    function_name = "bench"
    memory_limit_in_mb = "256"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self):
        return int(900_000 - (time.monotonic() - started) * 1000)


loaded = time.monotonic()
result = handler({}, Context())
handled = time.monotonic()
with open("/proc/self/status") as status:
    hwm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"result": result, "vm_hwm_kb": hwm_kb, "import_s": loaded - started,
                  "handler_s": handled - loaded, "module": sys.modules[handler.__module__].__file__}, default=str))
"""


@dataclass(frozen=True)
class Profile:
    """One kind of instance in the fleet; each kind gets an equal share of it."""

    image: str
    instance_type: str
    groups: tuple[str, ...]
    tags: dict[str, str]
    imdsv2: bool
    hop_limit: int
    public_ip: bool
    monitoring: bool
    encrypted: bool
    key_name: str | None


SECURITY_GROUPS: dict[str, list[dict[str, Any]]] = {
    "web": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    "ssh-open": [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    "ssh-office": [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "203.0.113.0/24"}]}],
    "db-open": [{"IpProtocol": "tcp", "FromPort": 3306, "ToPort": 3306, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}],
    "internal": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}],
}
OWNED = {"Owner": "team-a", "Environment": "prod"}
PROFILES = (
    Profile("ami-760aaa0f", "t3.micro", ("web", "internal"), OWNED, True, 1, False, True, True, None),
    Profile("ami-760aaa0f", "m5.large", ("ssh-open",), {"Owner": "team-b"}, False, 1, True, False, False, "ops"),
    Profile("ami-1e749f67", "m1.small", ("ssh-open", "db-open"), {}, False, 2, True, False, False, "ops"),
    Profile("ami-1e749f67", "c5.xlarge", ("ssh-office",), OWNED, True, 1, False, False, True, None),
    Profile("ami-03cf127a", "t3.micro", ("db-open",), {"Environment": "dev"}, False, 1, True, False, False, None),
    Profile("ami-03cf127a", "m1.small", ("web", "ssh-office"), OWNED, False, 2, False, True, False, "ops"),
    Profile("ami-760aaa0f", "c5.xlarge", ("internal",), {}, True, 1, True, False, False, None),
    Profile("ami-1e749f67", "m5.large", ("web", "ssh-open"), {"Owner": "team-c"}, False, 1, True, False, True, "ops"),
)


@dataclass
class Traffic:
    """Requests and server-side seconds per (service, operation)."""

    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    seconds: Counter[tuple[str, str]] = field(default_factory=Counter)

    def total(self, predicate: Callable[[str, str], bool]) -> int:
        return sum(count for (service, operation), count in self.calls.items() if predicate(service, operation))


class CountingServer:
    """moto's server app on 127.0.0.1, counting each request by service and operation."""

    def __init__(self) -> None:
        self.traffic = Traffic()
        self._lock = threading.Lock()
        self._app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server("127.0.0.1", 0, self._count, threaded=True)
        self.endpoint = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _count(self, environ: dict[str, Any], start_response: Any) -> Any:
        key = (_service(environ), _operation(environ))
        started = time.perf_counter()
        try:
            return self._app(environ, start_response)
        finally:
            with self._lock:
                self.traffic.calls[key] += 1
                self.traffic.seconds[key] += time.perf_counter() - started

    def take(self) -> Traffic:
        """The traffic since the last take, and start counting afresh."""
        with self._lock:
            traffic, self.traffic = self.traffic, Traffic()
        return traffic

    def reset_moto(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")).close()

    def stop(self) -> None:
        self._server.shutdown()


def _service(environ: dict[str, Any]) -> str:
    """The signing name in the SigV4 credential scope: .../<region>/<service>/aws4_request."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    scope = authorization.partition("Credential=")[2].split(",")[0].split("/")
    return scope[3] if len(scope) > 3 else "moto"


def _operation(environ: dict[str, Any]) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.split(".")[-1]
    path = environ.get("PATH_INFO", "")
    if "/operation/" in path:
        return path.rsplit("/", 1)[-1]
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if "Action" in query:
        return query["Action"][0]
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        action = parse_qs(body.decode("utf-8", "replace")).get("Action")
        if action:
            return action[0]
    return _s3_operation(environ["REQUEST_METHOD"], path, query)


def _s3_operation(method: str, path: str, query: dict[str, list[str]]) -> str:
    has_key = "/" in path.strip("/")
    if method == "GET":
        if has_key:
            return "GetObject"
        return "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
    if method == "PUT":
        if not has_key:
            return "CreateBucket"
        return "UploadPart" if "partNumber" in query else "PutObject"
    if method == "POST":
        if "delete" in query:
            return "DeleteObjects"
        return "CompleteMultipartUpload" if "uploadId" in query else "CreateMultipartUpload"
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId" in query else "DeleteObject"
    return "HeadObject" if has_key else "HeadBucket"


@dataclass(frozen=True)
class Run:
    """One handler run at one fleet size."""

    instances: int
    seed_s: float
    wall_s: float
    import_s: float
    handler_s: float
    peak_rss_kb: int
    wait4_maxrss_kb: int
    s3_bytes: int
    s3_objects: int
    traffic: Traffic
    failed_by_rule: dict[str, int]
    status: str

    @property
    def findings(self) -> int:
        return sum(self.failed_by_rule.values())

    def per_1000(self, value: float) -> float:
        return value * 1000 / self.instances

    @property
    def s3_calls(self) -> int:
        return self.traffic.total(lambda service, _: service == "s3")

    @property
    def s3_puts(self) -> int:
        """Uploads of object data: PutObject, and UploadPart for a multipart upload."""
        return self.traffic.total(lambda service, operation: service == "s3" and operation in S3_UPLOADS)

    @property
    def other_calls(self) -> int:
        return self.traffic.total(lambda service, _: service != "s3")


def _shares(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


def _chunks(total: int) -> Iterator[tuple[Profile, int]]:
    """Each profile's equal share of the fleet, in launches of at most MAX_COUNT."""
    for profile, share in zip(PROFILES, _shares(total, len(PROFILES)), strict=True):
        for size in _shares(share, math.ceil(share / MAX_COUNT)) if share else ():
            yield profile, size


def _setup(ec2: Any, region: str = REGION) -> tuple[dict[str, str], str]:
    """The security groups (by name) and the fleet's subnet, in the client's region."""
    groups = {}
    for name, permissions in SECURITY_GROUPS.items():
        group_id = ec2.create_security_group(GroupName=f"bench-{name}", Description=name)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=permissions)
        groups[name] = group_id
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=SUBNET_CIDR, AvailabilityZone=f"{region}a")["Subnet"]["SubnetId"]
    return groups, subnet


def _block_devices(profile: Profile) -> list[dict[str, Any]]:
    return [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "Encrypted": profile.encrypted}}]


def _launch_api(ec2: Any, profile: Profile, size: int, groups: dict[str, str], subnet: str) -> None:
    tags = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in profile.tags.items()]}]
    ec2.run_instances(
        ImageId=profile.image,
        InstanceType=profile.instance_type,
        MinCount=size,
        MaxCount=size,
        NetworkInterfaces=[
            {
                "DeviceIndex": 0,
                "SubnetId": subnet,
                "AssociatePublicIpAddress": profile.public_ip,
                "Groups": [groups[name] for name in profile.groups],
            }
        ],
        MetadataOptions={
            "HttpTokens": "required" if profile.imdsv2 else "optional",
            "HttpPutResponseHopLimit": profile.hop_limit,
        },
        Monitoring={"Enabled": profile.monitoring},
        BlockDeviceMappings=_block_devices(profile),
        **({"KeyName": profile.key_name} if profile.key_name else {}),
        **({"TagSpecifications": tags} if profile.tags else {}),
    )


def _launch_backend(
    backend: Any, profile: Profile, size: int, groups: dict[str, str], subnet: str, region: str = REGION
) -> None:
    """RunInstances as moto's response layer calls its backend, minus the HTTP round trip."""
    backend.run_instances(
        profile.image,
        size,
        None,
        [],
        instance_type=profile.instance_type,
        is_instance_type_default=False,
        region_name=region,
        subnet_id=subnet,
        key_name=profile.key_name,
        associate_public_ip=profile.public_ip,
        security_group_ids=[groups[name] for name in profile.groups],
        nics=[],
        tags={"instance": dict(profile.tags)} if profile.tags else {},
        metadata_options={
            "HttpTokens": "required" if profile.imdsv2 else "optional",
            "HttpPutResponseHopLimit": str(profile.hop_limit),
        },
        monitoring_state="enabled" if profile.monitoring else "disabled",
        block_device_mappings=_block_devices(profile),
        client_token="ABCDE",
    )


@contextmanager
def _indexed(backend: Any) -> Iterator[None]:
    """Spare moto's linear scans while seeding: RunInstances looks each instance's AMI up by a
    filtered DescribeImages, its new volume by a scan of all volumes and the instance itself
    (to attach that volume) by a scan of all instances, which is quadratic in the fleet."""
    describe_images, describe_volumes, get_instance = (
        backend.describe_images,
        backend.describe_volumes,
        backend.get_instance,
    )
    images: dict[str, list[Any]] = {}

    def cached_images(**kwargs: Any) -> list[Any]:
        image_id = kwargs.get("filters", {}).get("image-id")
        if isinstance(image_id, str) and len(kwargs) == 1:
            if image_id not in images:
                images[image_id] = describe_images(**kwargs)
            return images[image_id]
        return describe_images(**kwargs)

    def volumes_by_id(volume_ids: list[str] | None = None, filters: Any = None) -> list[Any]:
        if volume_ids and not filters and all(v in backend.volumes for v in volume_ids):
            return [backend.volumes[v] for v in volume_ids]
        return describe_volumes(volume_ids=volume_ids, filters=filters)

    def newest_first(instance_id: str) -> Any:
        newest = next(reversed(backend.reservations.values()), None)
        for instance in reversed(newest.instances if newest else []):
            if instance.id == instance_id:
                return instance
        return get_instance(instance_id)

    backend.describe_images, backend.describe_volumes, backend.get_instance = (
        cached_images,
        volumes_by_id,
        newest_first,
    )
    try:
        yield
    finally:
        del backend.describe_images, backend.describe_volumes, backend.get_instance


def _tags_by_resource(backend: Any) -> None:
    """Answer one resource's tags from moto's own index: moto looks up the tags of every instance
    and volume it returns with describe_tags(resource-id=<id>), which matches a regex against
    every tag of every resource, making DescribeInstances quadratic in the fleet (at 8,000 instances a
    page of 1,000 took a minute). The answer is the one moto's scan would give."""
    describe_tags = backend.describe_tags

    def indexed(filters: dict[str, list[str]] | None = None) -> list[dict[str, str]]:
        ids = (filters or {}).get("resource-id", [])
        if filters and len(filters) == 1 and len(ids) == 1 and not WILDCARDS & set(ids[0]):
            resource_id = ids[0]
            kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
            return [
                {"resource_id": resource_id, "key": key, "value": value, "resource_type": kind}
                for key, value in backend.tags.get(resource_id, {}).items()
            ]
        return describe_tags(filters)

    backend.describe_tags = indexed


@contextmanager
def paged_volumes() -> Iterator[None]:
    """moto answers DescribeVolumes with every volume whatever MaxResults says; AWS pages them,
    at most VOLUME_PAGE_MAX a page. Page moto's answer likewise, so that the handler holds the
    pages AWS would send it. The fleet does not change during a run: the token is an offset into
    the answer to the first page, which the next pages reuse rather than filter every volume again."""
    describe_volumes = EC2Response.describe_volumes
    answers: dict[str, list[Any]] = {}
    lock = threading.Lock()

    def paged(self: EC2Response) -> ActionResult:
        max_results = self._get_int_param("MaxResults")
        if not max_results:
            return describe_volumes(self)
        token = self._get_param("NextToken")
        query = repr((id(self.ec2_backend), sorted((k, v) for k, v in self.querystring.items() if k != "NextToken")))
        with lock:
            volumes = answers.get(query) if token else None
        if volumes is None:
            volumes = describe_volumes(self).result["Volumes"]
            with lock:
                answers[query] = volumes
                while len(answers) > VOLUME_ANSWERS_KEPT:
                    del answers[next(iter(answers))]
        start = int(token or 0)
        end = start + min(max_results, VOLUME_PAGE_MAX)
        return ActionResult({"Volumes": volumes[start:end], "NextToken": str(end) if end < len(volumes) else None})

    EC2Response.describe_volumes = paged
    try:
        yield
    finally:
        EC2Response.describe_volumes = describe_volumes


def _volume_ids_as_sets(backend: Any) -> None:
    """Match DescribeVolumes' id filters (volume-id, attachment.instance-id) by set membership:
    moto matches every volume against every value with fnmatch, so that a batch of 200 instance
    ids costs 200 pattern matches per volume of the region, quadratic in the fleet (at 32,000
    instances, 160 such calls took 500 s). Values without wildcards match the same volumes."""
    describe_volumes = backend.describe_volumes

    def by_set(volume_ids: list[str] | None = None, filters: Any = None) -> list[Any]:
        exact = {
            name: set(values)
            for name, values in (filters or {}).items()
            if name in VOLUME_ID_FILTERS
            and isinstance(values, list)
            and not any(WILDCARDS & set(value) for value in values)
        }
        if volume_ids or not exact:
            return describe_volumes(volume_ids=volume_ids, filters=filters)
        volumes = [
            volume
            for volume in backend.volumes.values()
            if all(VOLUME_ID_FILTERS[name](volume) in ids for name, ids in exact.items())
        ]
        return generic_filter({name: values for name, values in filters.items() if name not in exact}, volumes)

    backend.describe_volumes = by_set


def _one_instance_per_reservation(backend: Any) -> None:
    """moto pages DescribeInstances by reservations (MaxResults of them a page), AWS by
    instances: with one instance a reservation, a page of moto's holds what a page of AWS's does."""
    split: dict[str, Any] = {}
    for reservation in backend.reservations.values():
        for instance in reservation.instances:
            single = Reservation(random_reservation_id(), reservation.owner_id)
            single.instances.append(instance)
            split[single.id] = single
    backend.reservations.clear()
    backend.reservations.update(split)


def seed_fleet(ec2: Any, total: int, via: str = "backend", region: str = REGION) -> None:
    """A fleet of `total` in `region` (`ec2` is a client of that region, on a server or under
    mock_aws): its security groups, subnet and instances, then the three adjustments of that
    region's moto backend (see the docstring)."""
    groups, subnet = _setup(ec2, region)
    backend = get_backend("ec2")[ACCOUNT][region]
    if via == "api":
        for profile, size in _chunks(total):
            _launch_api(ec2, profile, size, groups, subnet)
    else:
        with _indexed(backend):
            for profile, size in _chunks(total):
                _launch_backend(backend, profile, size, groups, subnet, region)
    _one_instance_per_reservation(backend)
    _tags_by_resource(backend)
    _volume_ids_as_sets(backend)


def seed(server: CountingServer, total: int, via: str) -> float:
    """Reset moto, then create the bucket and a fleet of `total`; returns the seconds it took."""
    gc.unfreeze()
    server.reset_moto()
    gc.collect()
    started = time.perf_counter()
    session = boto3.session.Session(region_name=REGION)
    session.client("s3", endpoint_url=server.endpoint).create_bucket(Bucket=BUCKET)
    seed_fleet(session.client("ec2", endpoint_url=server.endpoint), total, via)
    took = time.perf_counter() - started
    gc.collect()
    gc.freeze()  # the fleet is long-lived: keep the server's collections from rescanning it
    return took


def _child_env(endpoint: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    for name in ("SNS_TOPIC_ARN", "SECURITY_HUB_IMPORT"):
        env.pop(name, None)
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "REPORT_BUCKET": BUCKET,
            "SCAN_REGIONS": REGION,
            "METRIC_NAMESPACE": "EC2ComplianceBench",
            "COMPLIANCE_POLICY": json.dumps(POLICY),
        }
    )
    return env


class RunFailed(RuntimeError):
    pass


def _failed_by_rule(summary: dict[str, Any]) -> dict[str, int]:
    return {rule_id: counts["failed"] for rule_id, counts in summary["by_rule"].items() if counts.get("failed")}


def _stored(server: CountingServer) -> tuple[int, int]:
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=server.endpoint)
    size = count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            size += item["Size"]
            count += 1
    return size, count


def run_handler(server: CountingServer, total: int, seed_s: float) -> Run:
    """One handler process against the seeded fleet."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        server.take()
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, FUNCTION_ARN],
            stdout=out,
            stderr=err,
            env=_child_env(server.endpoint),
            cwd=REPO,
        )
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        traffic = server.take()
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if child.returncode != 0:
        raise RunFailed(f"handler process exited {child.returncode}: {stderr[-3000:]}")
    try:
        report = json.loads(stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise RunFailed(f"the handler process printed no result: {stdout[-1000:]!r} {stderr[-2000:]}") from None
    if not Path(report["module"]).resolve().is_relative_to(LAMBDA_SRC.resolve()):
        raise RunFailed(f"the handler process imported {report['module']}, not the scanner in {LAMBDA_SRC}")
    result = report["result"]
    s3_bytes, s3_objects = _stored(server)
    server.take()
    return Run(
        instances=total,
        seed_s=seed_s,
        wall_s=wall,
        import_s=report["import_s"],
        handler_s=report["handler_s"],
        peak_rss_kb=report["vm_hwm_kb"],
        wait4_maxrss_kb=usage.ru_maxrss,
        s3_bytes=s3_bytes,
        s3_objects=s3_objects,
        traffic=traffic,
        failed_by_rule=_failed_by_rule(result["summary"]),
        status=result["status"],
    )


def _table(runs: list[Run]) -> str:
    header = (
        "instances",
        "seed s",
        "findings",
        "per inst",
        "status",
        "peak RSS MB",
        "S3 B/inst",
        "S3 objects",
        "wall s",
        "s / 1k inst",
        "non-S3 calls / 1k",
        "S3 puts / 1k",
        "S3 calls / 1k",
    )
    rows = [header, tuple("---" for _ in header)]
    for run in runs:
        rows.append(
            (
                f"{run.instances:,}",
                f"{run.seed_s:.1f}",
                f"{run.findings:,}",
                f"{run.findings / run.instances:.2f}",
                run.status,
                f"{run.peak_rss_kb / 1024:.1f}",
                f"{run.s3_bytes / run.instances:,.0f}",
                f"{run.s3_objects}",
                f"{run.wall_s:.1f}",
                f"{run.per_1000(run.wall_s):.2f}",
                f"{run.per_1000(run.other_calls):.1f}",
                f"{run.per_1000(run.s3_puts):.1f}",
                f"{run.per_1000(run.s3_calls):.1f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "| " + " | ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) + " |" for row in rows
    )


def _details(run: Run) -> str:
    operations = ", ".join(
        f"{service}:{operation} {count} ({run.traffic.seconds[service, operation]:.1f} s)"
        for (service, operation), count in sorted(run.traffic.calls.items())
    )
    failures = ", ".join(f"{rule_id} {count}" for rule_id, count in run.failed_by_rule.items())
    return "\n  ".join(
        (
            f"N={run.instances:,}: process {run.wall_s:.1f} s = imports {run.import_s:.1f} s + handler "
            f"{run.handler_s:.1f} s + start-up; moto served for {sum(run.traffic.seconds.values()):.1f} s",
            f"wait4 ru_maxrss {run.wait4_maxrss_kb / 1024:.0f} MB (counts this process too, see the docstring)",
            f"calls (seconds in moto): {operations}",
            f"failed by rule: {failures}",
        )
    )


def goals(runs: list[Run]) -> list[tuple[str, bool | None, str]]:
    """(goal, passed or None when it needs two sizes, the figures)."""
    by_size = sorted(runs, key=lambda run: run.instances)
    small, large = by_size[0], by_size[-1]
    two = large.instances > small.instances
    rss_ratio = large.peak_rss_kb / small.peak_rss_kb
    peak_mb = max(run.peak_rss_kb for run in runs) / 1024
    worst_bytes = max(run.s3_bytes / run.instances for run in runs)
    per_1k_small, per_1k_large = small.per_1000(small.wall_s), large.per_1000(large.wall_s)
    time_ratio = max(per_1k_small, per_1k_large) / min(per_1k_small, per_1k_large)
    return [
        (
            f"peak RSS at N={large.instances:,} <= {GOAL_RSS_GROWTH}x N={small.instances:,}",
            rss_ratio <= GOAL_RSS_GROWTH if two else None,
            f"{rss_ratio:.2f}x",
        ),
        (f"peak RSS < {GOAL_RSS_MB} MB", peak_mb < GOAL_RSS_MB, f"{peak_mb:.1f} MB"),
        (
            f"S3 bytes per instance <= {GOAL_BYTES_PER_INSTANCE}",
            worst_bytes <= GOAL_BYTES_PER_INSTANCE,
            f"{worst_bytes:,.0f} B",
        ),
        (
            f"wall time per 1,000 within {GOAL_TIME_GROWTH}x (N={small.instances:,} vs N={large.instances:,})",
            time_ratio <= GOAL_TIME_GROWTH if two else None,
            f"{per_1k_small:.2f} s vs {per_1k_large:.2f} s: {time_ratio:.2f}x",
        ),
    ]


def measure(server: CountingServer, sizes: list[int], via: str, keep_going: bool) -> tuple[list[Run], list[str]]:
    """A run per fleet size, and the failed runs' messages (only with keep_going)."""
    runs: list[Run] = []
    failures: list[str] = []
    for total in sizes:
        seed_s = seed(server, total, via)
        print(f"seeded {total:,} instances ({via}) in {seed_s:.1f} s", flush=True)
        try:
            run = run_handler(server, total, seed_s)
        except RunFailed as exc:
            if not keep_going:
                raise SystemExit(f"N={total:,}: {exc}") from None
            failures.append(f"N={total:,}: {exc}")
            print(f"N={total:,}: FAILED: {exc}", flush=True)
            continue
        runs.append(run)
        print(_details(run), flush=True)
    return runs, failures


def _sizes(text: str) -> list[int]:
    sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected positive instance counts, got {text!r}")
    capacity = ipaddress.ip_network(SUBNET_CIDR).num_addresses - 5
    if max(sizes) > capacity:
        raise argparse.ArgumentTypeError(f"at most {capacity} instances fit the fleet's subnet {SUBNET_CIDR}")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--instances",
        type=_sizes,
        default=_sizes(DEFAULT_SIZES),
        help=f"comma-separated fleet sizes (default {DEFAULT_SIZES})",
    )
    parser.add_argument(
        "--seed",
        choices=("backend", "api"),
        default="backend",
        help="write the fleet into moto's backend in-process (default), or call RunInstances",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal fails")
    parser.add_argument(
        "--keep-going",
        action="store_true",
        help="report a failed handler run and go on with the next size (without it, a failed "
        "run stops the benchmark with exit status 1)",
    )
    args = parser.parse_args(argv)
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
    )
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # moto logs a traceback per unimplemented call
    server = CountingServer()
    try:
        with paged_volumes():
            runs, failures = measure(server, args.instances, args.seed, args.keep_going)
    finally:
        server.stop()
    print(f"\ncores: {os.cpu_count()}; one region ({REGION}); policy {json.dumps(POLICY)}\n")
    if runs:
        print(_table(runs))
        print()
    results = goals(runs) if runs else []
    for goal, passed, figures in results:
        verdict = "n/a (needs two sizes)" if passed is None else "PASS" if passed else "FAIL"
        print(f"{verdict:>5}  {goal}: {figures}")
    for failure in failures:
        print(f" FAIL  handler run {failure.splitlines()[0]}")
    failed = bool(failures) or any(passed is False for _, passed, _ in results)
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
