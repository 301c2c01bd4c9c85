"""The emulated Atlas world: organizations, projects, clusters, export buckets, schedules, rules.

Owns the in-memory model, seeding and dumping it (the /_emulator/state shape), the JSON views
Atlas returns for projects and clusters, and the cluster rules (pause, tiers, UPDATING after a
PATCH, the default schedule on first backup enable). It knows no HTTP; callers hold the lock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import re
from collections.abc import Callable, Mapping

from gitopsd.emulator import problems, schedules

Json = dict[str, object]
SHARED_TIERS = frozenset({"M0", "M2", "M5"})
FLEX = "FLEX"
IDLE, UPDATING = "IDLE", "UPDATING"
STATES = frozenset({IDLE, "CREATING", UPDATING, "DELETING", "REPAIRING"})
DEFAULT_REGION = {
    "AWS": "US_EAST_1",
    "GCP": "CENTRAL_US",
    "AZURE": "US_EAST_2",
    "TENANT": "US_EAST_1",
}
INSTANCE = re.compile(r"^(M|R)\d+(_NVME)?(_GEN_2)?$")
CLUSTER_FLAGS = ("backupEnabled", "pitEnabled", "paused")


@dataclasses.dataclass(slots=True, kw_only=True)
class Cluster:
    """One cluster as the emulator holds it."""

    project_id: str
    name: str
    id: str
    zone_id: str
    spec_id: str
    backup_enabled: bool = False
    pit_enabled: bool = False
    paused: bool = False
    state_name: str = IDLE
    instance_size: str = "M10"
    provider_name: str = "AWS"
    region_name: str = "US_EAST_1"
    cluster_type: str = "REPLICASET"
    mongodb_major_version: str = "8.0"
    create_date: str = "2025-01-01T00:00:00Z"
    busy_until: float | None = None

    def tier_refusal(self, status: int = 400) -> problems.ApiProblemError | None:
        """Why backup settings are refused on this tier, or None."""
        if self.instance_size == FLEX:
            code, what = problems.FLEX_BACKUP_UNSUPPORTED, "flex clusters back up automatically"
        elif self.instance_size in SHARED_TIERS:
            code, what = (
                problems.TENANT_BACKUP_UNSUPPORTED,
                f"{self.instance_size} is a shared tier",
            )
        else:
            return None
        detail = f"cloud backup settings are not available for cluster {self.name}: {what}"
        return problems.ApiProblemError(status, code, detail)


_CLUSTER_KEYS = {
    "id": "id",
    "zoneId": "zone_id",
    "replicationSpecId": "spec_id",
    "backupEnabled": "backup_enabled",
    "pitEnabled": "pit_enabled",
    "paused": "paused",
    "stateName": "state_name",
    "instanceSize": "instance_size",
    "providerName": "provider_name",
    "regionName": "region_name",
    "clusterType": "cluster_type",
    "mongoDBMajorVersion": "mongodb_major_version",
    "createDate": "create_date",
}


def _str(doc: Mapping[str, object], key: str, default: str | None = None) -> str:
    value = doc.get(key, default)
    if not isinstance(value, str) or not value:
        raise problems.invalid(f"{key} must be a non-empty string", key)
    return value


def _records(doc: Mapping[str, object], key: str) -> list[Mapping[str, object]]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise problems.invalid(f"{key} must be a list of objects", key)
    return value


class World:
    """Every organization, project, cluster and schedule, and the rules that change them."""

    def __init__(self, *, clock: Callable[[], float], seed: int = 0) -> None:
        self.clock = clock
        self.updating_s = 0.0
        self._ids = random.Random(seed)  # noqa: S311 - reproducible ids, not secrets
        self.orgs: dict[str, Json] = {}
        self.projects: dict[str, Json] = {}
        self.clusters: dict[tuple[str, str], Cluster] = {}
        self.schedules: dict[tuple[str, str], Json] = {}
        self.export_buckets: dict[tuple[str, str], Json] = {}

    def new_id(self) -> str:
        """A fresh 24-hex object id."""
        return f"{self._ids.getrandbits(96):024x}"

    # -- seeding and dumping -------------------------------------------------------------------

    def load(self, doc: Mapping[str, object]) -> None:
        """Replace the whole world with a /_emulator/state document."""
        fresh = World(clock=self.clock)
        fresh._ids, fresh.updating_s = self._ids, self.updating_s
        for org in _records(doc, "organizations"):
            org_id = _str(org, "id", fresh.new_id())
            fresh.orgs[org_id] = {"id": org_id, "name": _str(org, "name", "Organization")}
        for project in _records(doc, "projects"):
            if not fresh.orgs and "orgId" not in project:
                default_org = fresh.new_id()
                fresh.orgs[default_org] = {"id": default_org, "name": "Organization"}
            org_id = _str(project, "orgId", next(iter(fresh.orgs)))
            project_id = _str(project, "id", fresh.new_id())
            fresh.projects[project_id] = {
                "id": project_id,
                "name": _str(project, "name"),
                "orgId": org_id,
                "created": _str(project, "created", "2025-01-01T00:00:00Z"),
            }
        for raw in _records(doc, "clusters"):
            fresh.put_cluster(raw)
        for raw in _records(doc, "exportBuckets"):
            fresh.put_export_bucket(raw)
        for raw in _records(doc, "schedules"):
            fresh.put_schedule(_str(raw, "projectId"), _str(raw, "clusterName"), raw)
        for key, cluster in fresh.clusters.items():
            if cluster.backup_enabled and key not in fresh.schedules:
                fresh.schedules[key] = schedules.default(fresh.new_id)
        self.orgs, self.projects = fresh.orgs, fresh.projects
        self.clusters, self.schedules = fresh.clusters, fresh.schedules
        self.export_buckets = fresh.export_buckets

    def put_cluster(self, raw: Mapping[str, object]) -> Cluster:
        """Create or overwrite one cluster from its state record; no Atlas rules run."""
        project_id, name = _str(raw, "projectId"), _str(raw, "name")
        if project_id not in self.projects:
            raise problems.invalid(f"cluster {name}: unknown project {project_id}", "projectId")
        cluster = self.clusters.get((project_id, name)) or Cluster(
            project_id=project_id,
            name=name,
            id=self.new_id(),
            zone_id=self.new_id(),
            spec_id=self.new_id(),
        )
        for key, attr in _CLUSTER_KEYS.items():
            if key in raw:
                value = raw[key]
                if type(value) is not type(getattr(cluster, attr)):
                    raise problems.invalid(f"cluster {name}: {key} has the wrong type", key)
                setattr(cluster, attr, value)
        if cluster.instance_size in SHARED_TIERS | {FLEX}:
            cluster.provider_name = "TENANT"
            if "regionName" not in raw:
                cluster.region_name = DEFAULT_REGION["TENANT"]
        elif not INSTANCE.match(cluster.instance_size):
            raise problems.invalid(f"cluster {name}: unknown instanceSize", "instanceSize")
        elif cluster.provider_name not in {"AWS", "GCP", "AZURE"}:
            raise problems.invalid(f"cluster {name}: providerName must be AWS, GCP or AZURE")
        elif "regionName" not in raw:
            cluster.region_name = DEFAULT_REGION[cluster.provider_name]
        if cluster.state_name not in STATES:
            raise problems.invalid(f"cluster {name}: unknown stateName", "stateName")
        cluster.busy_until = None
        self.clusters[project_id, name] = cluster
        return cluster

    def put_export_bucket(self, raw: Mapping[str, object]) -> Json:
        """Create or overwrite one export bucket (an AWS S3 bucket) from its state record."""
        project_id, name = _str(raw, "projectId"), _str(raw, "bucketName")
        if project_id not in self.projects:
            raise problems.invalid(f"export bucket {name}: unknown project {project_id}")
        bucket_id = _str(raw, "id", self.new_id())
        if not schedules.ID.match(bucket_id) or _str(raw, "cloudProvider", "AWS") != "AWS":
            raise problems.invalid(f"export bucket {name}: id must be 24 hex, cloudProvider AWS")
        bucket: Json = {"id": bucket_id, "projectId": project_id, "bucketName": name}
        bucket |= {"cloudProvider": "AWS", "iamRoleId": _str(raw, "iamRoleId", self.new_id())}
        self.export_buckets[project_id, bucket_id] = bucket
        return bucket

    def put_schedule(self, project_id: str, name: str, raw: Mapping[str, object]) -> Json:
        """Overwrite fields of one schedule as given (seed or drift); no Atlas rules run."""
        cluster = self.clusters.get((project_id, name))
        if cluster is None:
            raise problems.invalid(f"schedule for unknown cluster {project_id}/{name}")
        merged = dict(self.schedules.get((project_id, name), {})) | dict(raw)
        for key in ("projectId", "clusterName"):
            merged.pop(key, None)
        schedule = schedules.seeded(merged, zone_id=cluster.zone_id, new_id=self.new_id)
        self.schedules[project_id, name] = schedule
        return schedule

    def dump(self) -> Json:
        """The whole world in the /_emulator/state shape, ids included."""
        clusters: list[object] = []
        for cluster in self.clusters.values():
            self.settle(cluster)
            record: Json = {"projectId": cluster.project_id, "name": cluster.name}
            record |= {key: getattr(cluster, attr) for key, attr in _CLUSTER_KEYS.items()}
            clusters.append(record)
        return {
            "organizations": list(self.orgs.values()),
            "projects": list(self.projects.values()),
            "clusters": clusters,
            "exportBuckets": list(self.export_buckets.values()),
            "schedules": [
                {"projectId": project_id, "clusterName": name, **schedule}
                for (project_id, name), schedule in self.schedules.items()
            ],
        }

    # -- lookups and views ---------------------------------------------------------------------

    def project(self, project_id: str) -> Json:
        """The project with this id, or 404."""
        if not re.fullmatch(r"[a-f0-9]{24}", project_id):
            raise problems.ApiProblemError(
                400, problems.INVALID_GROUP_ID, f"{project_id} is not a valid group id"
            )
        found = self.projects.get(project_id)
        if found is None:
            detail = f"no group with id {project_id} exists"
            raise problems.ApiProblemError(404, problems.GROUP_NOT_FOUND, detail)
        return found

    def project_named(self, name: str) -> Json:
        """The project with this name, or 404."""
        for project in self.projects.values():
            if project["name"] == name:
                return project
        detail = f"no group with name {name} exists"
        raise problems.ApiProblemError(404, problems.GROUP_NAME_NOT_FOUND, detail)

    def cluster(self, project_id: str, name: str) -> Cluster:
        """The cluster, settled to its current state, or 404."""
        self.project(project_id)
        found = self.clusters.get((project_id, name))
        if found is None:
            detail = f"no cluster named {name} exists in group {project_id}"
            raise problems.ApiProblemError(404, problems.CLUSTER_NOT_FOUND, detail)
        return self.settle(found)

    def settle(self, cluster: Cluster) -> Cluster:
        """Finish an UPDATING spell once its time is up."""
        if cluster.busy_until is not None and self.clock() >= cluster.busy_until:
            cluster.state_name, cluster.busy_until = IDLE, None
        return cluster

    def group_view(self, project: Json, base_url: str) -> Json:
        """A project as Group (2023-01-01)."""
        count = sum(1 for c in self.clusters.values() if c.project_id == project["id"])
        href = f"{base_url}/api/atlas/v2/groups/{project['id']}"
        return {**project, "clusterCount": count, "links": [{"href": href, "rel": "self"}]}

    def cluster_view(self, cluster: Cluster, base_url: str) -> Json:
        """A cluster as ClusterDescription20240805."""
        region: Json = {
            "providerName": cluster.provider_name,
            "regionName": cluster.region_name,
            "priority": 7,
        }
        if cluster.instance_size == FLEX:
            region |= {
                "backingProviderName": "AWS",
                "electableSpecs": {"effectiveInstanceSize": FLEX},
            }
        elif cluster.provider_name == "TENANT":
            region |= {"backingProviderName": "AWS"}
            region["electableSpecs"] = {"instanceSize": cluster.instance_size}
        else:
            region["electableSpecs"] = {"instanceSize": cluster.instance_size, "nodeCount": 3}
        major = cluster.mongodb_major_version
        href = f"{base_url}/api/atlas/v2/groups/{cluster.project_id}/clusters/{cluster.name}"
        return {
            "id": cluster.id,
            "name": cluster.name,
            "groupId": cluster.project_id,
            "clusterType": cluster.cluster_type,
            "backupEnabled": cluster.backup_enabled,
            "pitEnabled": cluster.pit_enabled,
            "paused": cluster.paused,
            "stateName": cluster.state_name,
            "createDate": cluster.create_date,
            "mongoDBMajorVersion": major,
            "mongoDBVersion": f"{major}.0" if major.count(".") == 1 else f"{major}.0.0",
            "versionReleaseSystem": "LTS",
            "terminationProtectionEnabled": False,
            "links": [{"href": href, "rel": "self"}],
            "replicationSpecs": [
                {
                    "id": cluster.spec_id,
                    "zoneId": cluster.zone_id,
                    "zoneName": "Zone 1",
                    "regionConfigs": [region],
                }
            ],
        }

    def export_buckets_of(self, project_id: str) -> list[Json]:
        """The export buckets of a project, by id."""
        self.project(project_id)
        found = (b for b in self.export_buckets.values() if b["projectId"] == project_id)
        return sorted(found, key=lambda b: str(b["id"]))

    def export_bucket_view(self, bucket: Json, base_url: str) -> Json:
        """An export bucket as DiskBackupSnapshotAWSExportBucketResponse."""
        href = f"{base_url}/api/atlas/v2/groups/{bucket['projectId']}/backup/exportBuckets"
        return {
            "_id": bucket["id"],
            "bucketName": bucket["bucketName"],
            "cloudProvider": bucket["cloudProvider"],
            "iamRoleId": bucket["iamRoleId"],
            "links": [{"href": f"{href}/{bucket['id']}", "rel": "self"}],
        }

    def schedule_view(self, cluster: Cluster, base_url: str, *, version: str) -> Json:
        """The cluster's schedule in a media-type version (2024-08-05 or 2023-01-01)."""
        href = (
            f"{base_url}/api/atlas/v2/groups/{cluster.project_id}"
            f"/clusters/{cluster.name}/backup/schedule"
        )
        return schedules.render(
            self.schedules[cluster.project_id, cluster.name],
            cluster_id=cluster.id,
            cluster_name=cluster.name,
            href=href,
            now=dt.datetime.now(dt.UTC),
            legacy_spec_id=cluster.spec_id if version == "2023-01-01" else None,
        )

    # -- Atlas rules -----------------------------------------------------------------------

    def patch_cluster(self, cluster: Cluster, body: Mapping[str, object]) -> None:
        """Apply a cluster PATCH (backupEnabled, pitEnabled, paused) as Atlas would."""
        for key in CLUSTER_FLAGS:
            if key in body and not isinstance(body[key], bool):
                raise problems.invalid(f"{key} must be a boolean", key)
        if cluster.paused and body.get("paused") is not False:
            detail = f"cannot update cluster {cluster.name} while it is paused"
            raise problems.ApiProblemError(409, problems.CANNOT_UPDATE_PAUSED_CLUSTER, detail)
        backup = bool(body.get("backupEnabled", cluster.backup_enabled))
        pit = bool(body.get("pitEnabled", cluster.pit_enabled))
        refusal = cluster.tier_refusal()
        if refusal is not None and (backup or pit):
            raise refusal
        if pit and not backup:
            detail = "continuous cloud backup (pitEnabled) requires backupEnabled"
            raise problems.ApiProblemError(
                400, problems.PIT_REQUIRES_BACKUP, detail, parameters=("pitEnabled",)
            )
        paused = bool(body.get("paused", cluster.paused))
        if (backup, pit, paused) == (cluster.backup_enabled, cluster.pit_enabled, cluster.paused):
            return
        cluster.backup_enabled, cluster.pit_enabled, cluster.paused = backup, pit, paused
        where = (cluster.project_id, cluster.name)
        if backup and where not in self.schedules:
            self.schedules[where] = schedules.default(self.new_id)
        if self.updating_s > 0:
            cluster.state_name, cluster.busy_until = UPDATING, self.clock() + self.updating_s

    def backup_cluster(self, cluster: Cluster, *, writing: bool) -> Cluster:
        """The cluster if its backup schedule may be read (or written), else the refusal.

        The spec lists no 400 for the schedule GET and no 409 for its PATCH, so a GET is
        refused with 404 and a PATCH with 400, each with a specific errorCode.
        """
        status = 400 if writing else 404
        refusal = cluster.tier_refusal(status)
        if refusal is not None:
            raise refusal
        if not cluster.backup_enabled or (cluster.project_id, cluster.name) not in self.schedules:
            detail = f"cloud backup is not enabled for cluster {cluster.name}"
            raise problems.ApiProblemError(status, problems.BACKUP_NOT_ENABLED, detail)
        if writing and cluster.paused:
            detail = f"cannot update the backup schedule of paused cluster {cluster.name}"
            raise problems.ApiProblemError(400, problems.CANNOT_UPDATE_PAUSED_CLUSTER, detail)
        if writing and cluster.state_name != IDLE:
            detail = f"cluster {cluster.name} is {cluster.state_name}; retry once it is IDLE"
            raise problems.ApiProblemError(400, problems.CLUSTER_NOT_IDLE, detail)
        return cluster

    def patch_schedule(self, cluster: Cluster, body: Mapping[str, object]) -> None:
        """Apply a schedule PATCH with Atlas's validation rules."""
        key = (cluster.project_id, cluster.name)
        buckets = frozenset(str(b["id"]) for b in self.export_buckets_of(cluster.project_id))
        self.schedules[key] = schedules.merge(
            self.schedules[key],
            body,
            zone_id=cluster.zone_id,
            export_buckets=buckets,
            new_id=self.new_id,
        )
