"""A three-master Redis Cluster of the tests' own on loopback ports, with what a reshard and a
lost node do: a slot moved from one master to another (IMPORTING/MIGRATING, MIGRATE, NODE), a
master's keys lost (FLUSHALL on that master alone)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from tests.integration.procfile import wait_for

CLUSTER_PORTS = (31001, 31002, 31003)
BUS_OFFSET = 3  # the cluster bus of the node on 31001 listens on 31004 (not the default +10000)


class LocalCluster:
    def __init__(self, ports: tuple[int, ...] = CLUSTER_PORTS) -> None:
        self.ports = ports
        self.dir = Path(tempfile.mkdtemp(prefix="redis-cluster-test-"))
        self.processes: list[subprocess.Popen[bytes]] = []
        self.url = "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in ports)

    def start(self) -> None:
        server = shutil.which("redis-server") or "redis-server"
        for port in self.ports:
            node_dir = self.dir / str(port)
            node_dir.mkdir()
            self.processes.append(
                subprocess.Popen(
                    [
                        server,
                        *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir)),
                        *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
                        *("--cluster-port", str(port + BUS_OFFSET)),
                        *("--cluster-node-timeout", "5000", "--save", "", "--appendonly", "no"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for port in self.ports:
            wait_for(lambda p=port: self._answers(p), 20, f"cluster node on {port}")
        create = [shutil.which("redis-cli") or "redis-cli", "--cluster", "create"]
        create += [f"127.0.0.1:{p}" for p in self.ports]
        create += ["--cluster-replicas", "0", "--cluster-yes"]
        subprocess.run(create, check=True, capture_output=True, timeout=60)
        wait_for(self._ok, 30, "cluster_state:ok on every node")

    def _answers(self, port: int) -> bool:
        try:
            return bool(self.node(port).ping())
        except redis.RedisError:
            return False

    def _ok(self) -> bool:
        for port in self.ports:
            info = self.node(port).execute_command("CLUSTER", "INFO")
            text = info.decode() if isinstance(info, bytes) else str(info)
            if "cluster_state:ok" not in text:
                return False
        return True

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=5, socket_connect_timeout=5)

    def client(self) -> RedisCluster:
        nodes = [redis.cluster.ClusterNode("127.0.0.1", p) for p in self.ports]
        return RedisCluster(startup_nodes=nodes, socket_timeout=5, socket_connect_timeout=5)

    def node_id(self, port: int) -> str:
        return str(self.node(port).execute_command("CLUSTER", "MYID").decode())

    def owner(self, key: str) -> int:
        """The port of the master serving the key's slot."""
        slot = key_slot(key.encode())
        for start, end, master, *_ in self.node(self.ports[0]).execute_command("CLUSTER SLOTS"):
            if start <= slot <= end:
                return int(master[1])
        raise AssertionError(f"slot {slot} is served by no master")

    def flush_all(self) -> None:
        for port in self.ports:
            self.node(port).flushall()

    def move_slot(self, slot: int, source: int, target: int, pause_s: float = 0.0) -> int:
        """Moves one slot as `redis-cli --cluster reshard` does, key by key; answers how many
        keys moved. `pause_s` holds the slot half-moved (MIGRATING/IMPORTING) that long."""
        self.begin_move(slot, source, target)
        time.sleep(pause_s)
        moved = 0
        src = self.node(source)
        while keys := src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 10):
            self.migrate(source, target, keys)
            moved += len(keys)
            time.sleep(pause_s / 10)
        self.finish_move(slot, target)
        return moved

    def begin_move(self, slot: int, source: int, target: int) -> None:
        self.node(target).execute_command(
            "CLUSTER", "SETSLOT", slot, "IMPORTING", self.node_id(source)
        )
        self.node(source).execute_command(
            "CLUSTER", "SETSLOT", slot, "MIGRATING", self.node_id(target)
        )

    def migrate(self, source: int, target: int, keys: list[Any]) -> None:
        self.node(source).execute_command(
            "MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys
        )

    def finish_move(self, slot: int, target: int) -> None:
        target_id = self.node_id(target)
        for port in self.ports:
            self.node(port).execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
        for process in self.processes:
            process.wait(timeout=10)
        self.processes = []
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalCluster]:
    cluster = LocalCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def clean_cluster(redis_cluster: LocalCluster) -> Iterator[RedisCluster]:
    """The cluster emptied before the test, and a client of it (closed after)."""
    redis_cluster.flush_all()
    client = redis_cluster.client()
    try:
        yield client
    finally:
        client.close()
