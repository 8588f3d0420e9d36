"""Static checks of the kind path and docs/mongodb-users.md that need no cluster: the scripts
parse, every Secret the backends reference is one up.sh generates, the replica set and the
Kafka quorum have three members each, and the docs show what platform-users.json defines."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from caasctl.stack.config import REPO_ROOT

KIND = REPO_ROOT / "hack" / "kind"
UP = KIND / "up.sh"
USERS_FILE = REPO_ROOT / "hack" / "stack" / "mongodb" / "platform-users.json"
DOCS = REPO_ROOT / "docs" / "mongodb-users.md"


def _objects() -> dict[tuple[str, str], dict[str, Any]]:
    docs = yaml.safe_load_all((KIND / "backends.yaml").read_text())
    return {(d["kind"], d["metadata"]["name"]): d for d in docs if d}


def _pod_spec(kind: str, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = _objects()[(kind, name)]["spec"]["template"]["spec"]
    return spec


def _env(kind: str, name: str) -> dict[str, str]:
    (container,) = _pod_spec(kind, name)["containers"]
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


@pytest.mark.parametrize("script", sorted(KIND.glob("*.sh")), ids=lambda p: p.name)
def test_scripts_parse(script: Path) -> None:
    result = subprocess.run(
        ["bash", "-n", str(script)], capture_output=True, text=True, check=False, timeout=30
    )
    assert result.returncode == 0, result.stderr


def test_every_referenced_secret_key_is_generated_by_up_sh() -> None:
    generated = {
        match.group(1): set(match.group(2).split())
        for match in re.finditer(r"^ensure_generated (\S+) (.+)$", UP.read_text(), re.M)
    }
    users = generated.pop("mongodb-users")
    assert users == {'"${mongodb_users[@]}"'}  # every user's password (test_kind_mongodb.py)
    referenced: dict[str, set[str]] = {}
    for (kind, name), obj in _objects().items():
        if kind not in {"StatefulSet", "Deployment"}:
            continue
        spec = obj["spec"]["template"]["spec"]
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                mounts = [
                    m
                    for c in spec["containers"] + spec.get("initContainers", [])
                    for m in c.get("volumeMounts", [])
                    if m["name"] == volume["name"]
                ]
                assert mounts, f"{kind}/{name}: volume {volume['name']} is never mounted"
                # A whole-Secret volume: the files the containers read are named below.
                referenced.setdefault(volume["secret"]["secretName"], set())
        for container in spec["containers"]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    referenced.setdefault(ref["name"], set()).add(ref["key"])
    referenced["mongodb-keyfile"].add("keyfile")  # read by the keyfile init container
    (init,) = _pod_spec("StatefulSet", "mongodb")["initContainers"]
    assert "/etc/mongodb-keyfile-secret/keyfile" in init["command"]
    assert referenced == generated


def test_mongodb_is_a_three_member_replica_set_with_authentication() -> None:
    statefulset = _objects()[("StatefulSet", "mongodb")]
    assert statefulset["spec"]["replicas"] == 3
    assert statefulset["spec"]["serviceName"] == "mongodb"
    service = _objects()[("Service", "mongodb")]["spec"]
    assert service["clusterIP"] == "None"
    assert service["publishNotReadyAddresses"] is True
    (container,) = _pod_spec("StatefulSet", "mongodb")["containers"]
    assert container["image"] == "mongo:7.0"
    assert "--replSet=rs0" in container["args"]
    assert "--keyFile=/etc/mongodb-keyfile/keyfile" in container["args"]
    text = UP.read_text()
    assert 'mongodb_members+=("mongodb-$i.mongodb.$backends.svc.cluster.local:27017")' in text
    assert "for i in 0 1 2; do" in text


def test_kafka_is_three_kraft_nodes_with_replication_3_and_min_isr_2() -> None:
    statefulset = _objects()[("StatefulSet", "kafka")]
    replicas = statefulset["spec"]["replicas"]
    assert replicas == 3
    env = _env("StatefulSet", "kafka")
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    assert voters == [
        f"{i}@kafka-{i}.{statefulset['spec']['serviceName']}.caas-backends.svc.cluster.local:9093"
        for i in range(replicas)
    ]
    assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
    assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
    for topic in ("OFFSETS_TOPIC", "TRANSACTION_STATE_LOG", "SHARE_COORDINATOR_STATE_TOPIC"):
        assert env[f"KAFKA_{topic}_REPLICATION_FACTOR"] == "3"
    for topic in ("TRANSACTION_STATE_LOG", "SHARE_COORDINATOR_STATE_TOPIC"):
        assert env[f"KAFKA_{topic}_MIN_ISR"] == "2"
    # The platform's topics: the operator creates them with this replication factor.
    assert "--set operator.kafkaReplicationFactor=3" in UP.read_text()


# --- docs/mongodb-users.md shows what platform-users.json defines ----------------------------


def _platform_users() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(USERS_FILE.read_text())
    return spec


def _js(value: Any) -> str:
    """A role or resource as docs/mongodb-users.md writes it: `{ role: "x", db: "y" }`."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k}: {_js(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_js(v) for v in value) + "]"
    return json.dumps(value)


def test_docs_show_every_role_and_user_of_platform_users_json() -> None:
    docs = DOCS.read_text()
    spec = _platform_users()
    for role in spec["roles"]:
        assert f'role: "{role["role"]}"' in docs
        for privilege in role["privileges"]:
            assert f"resource: {_js(privilege['resource'])}" in docs
            assert f"actions: {_js(privilege['actions'])}" in docs
        assert f"roles: {_js(role['roles'])}" in docs
    for user in spec["users"]:
        assert f'user: "{user["name"]}"' in docs
        for role in user["roles"]:
            assert _js(role) in docs, f"{user['name']}: {_js(role)} missing from {DOCS.name}"
    created = set(re.findall(r'user: "([^"]+)"', docs))
    assert created == {u["name"] for u in spec["users"]}
