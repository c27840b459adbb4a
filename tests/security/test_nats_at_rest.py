"""PHI at rest in JetStream (issue 14, finding 8), attacked the way the review did: a referral with
a distinctive patient through `make run`'s real intake, and a poison copy of it dead-lettered by
the real store writer; then every byte of every file under the NATS data directory is searched
for the patient's name. Before the fix both streams held it in clear (REFERRALS for 90 days, the
dead letters for ever). Now the streams are encrypted with the JetStream key, which is in no
file there, no log and no service's environment; the dead letters are kept 30 days."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import nats

from contracts import bus
from referral_loop.messaging.nats_auth import ADMIN, seed_path
from tests.support import referrals as make
from tests.support.launcher import Launcher, running_launcher, wait_for

GIVEN, FAMILY = "Zebulonia", "Quixotewright"
PHONE = "+15550104242"


def files_holding(directory: Path, text: str) -> list[str]:
    return [str(p) for p in directory.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


def submit_canary(launcher: Launcher) -> str:
    patient = {**make.referral_body()["patient"], "given_name": GIVEN, "family_name": FAMILY, "phone": PHONE}
    with launcher.client() as http:
        answer = http.post("/api/referrals", json=make.referral_body(patient=patient))
        assert answer.status_code == 202, answer.text
        rid = str(answer.json()["referral_id"])
        wait_for(lambda: http.get(f"/api/referrals/{rid}").status_code == 200, 60, "recorded", launcher)
    return rid


async def poison_and_read_back(launcher: Launcher) -> tuple[bytes, float]:
    """A copy of the referral the store writer cannot decode (dead-lettered with its PHI), as
    the admin user; then what the streams give back: the dead letter's bytes, its max_age."""
    seed = seed_path(launcher.data_dir / "secrets" / "nats", ADMIN)
    nc = await nats.connect(launcher.env["REFERRAL_LOOP_NATS_URL"], nkeys_seed=str(seed))
    try:
        js = nc.jetstream()
        poison = f'{{"type": "ReferralReceived", "patient": "{GIVEN} {FAMILY}"}}'.encode()
        await js.publish(bus.subject_for("ReferralReceived"), poison)
        deadline = time.monotonic() + 30
        while (info := await js.stream_info(bus.DEADLETTER_STREAM)).state.messages == 0:
            assert time.monotonic() < deadline, "the poison was never dead-lettered"
            await asyncio.sleep(0.1)
        letter = await js.get_msg(bus.DEADLETTER_STREAM, info.state.last_seq)
        return bytes(letter.data or b""), float(info.config.max_age or 0)
    finally:
        await nc.close()


def test_no_patient_detail_is_readable_in_make_runs_nats_files(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    with running_launcher(data_dir) as launcher:
        submit_canary(launcher)
        letter, max_age = asyncio.run(poison_and_read_back(launcher))
        key = (data_dir / "secrets" / "jetstream.key").read_text().strip()
        services = [launcher.child(name) for name in ("intake", "store-writer", "feedback", "projections")]
        environments = [p.environ() for p in services if p is not None]
    assert GIVEN.encode() in letter, "clients still read the dead letter as it was sent"
    assert max_age == 30 * 24 * 3600, "dead letters are kept 30 days, no longer"
    nats_dir = data_dir / "nats"
    assert list(nats_dir.rglob("*.blk")), "the streams are on disk"
    for canary in (GIVEN, FAMILY, PHONE):
        assert files_holding(nats_dir, canary) == [], f"{canary} is readable in JetStream's files"
    assert files_holding(data_dir / "nats", key) == [] and files_holding(data_dir / "logs", key) == []
    assert key not in launcher.text()
    assert len(environments) == 4 and not [e for e in environments if key in "".join(e.values())]


async def publish_replicated(urls: list[str], admin_seed: Path) -> bytes:
    """The canary published to a stream at 3 replicas (once the nodes have met), read back."""
    nc = await nats.connect(servers=urls, nkeys_seed=str(admin_seed))
    try:
        js = nc.jetstream(timeout=2)
        deadline = time.monotonic() + 20
        placed = False
        while True:  # a new stream at 3 replicas answers once its leader is elected: retry until then
            try:
                placed = placed or bool(
                    await js.add_stream(name="CANARY", subjects=["canary"], num_replicas=3)
                )
                await js.publish("canary", f"{GIVEN} {FAMILY}".encode())
                break
            except (nats.errors.Error, TimeoutError):
                assert time.monotonic() < deadline, "the cluster never placed the stream or took the canary"
                await asyncio.sleep(0.2)
        return bytes((await js.get_msg("CANARY", 1)).data or b"")
    finally:
        await nc.close()


def test_make_clusters_nodes_keep_no_patient_in_clear(tmp_path: Path) -> None:
    """`make cluster`'s three nodes (reliability/cluster.py), a message at 3 replicas: in no file of
    any node, raft logs included."""
    from referral_loop.messaging.nats_auth import ensure_credentials
    from reliability.cluster import cluster_encryption, cluster_nodes, start_nodes

    users = ensure_credentials(tmp_path / "secrets" / "nats")
    nodes = cluster_nodes(tmp_path, users, encrypted=cluster_encryption(tmp_path))
    try:
        start_nodes(nodes)
        urls = [node.url for node in nodes]
        read = asyncio.run(publish_replicated(urls, seed_path(tmp_path / "secrets" / "nats", ADMIN)))
    finally:
        for node in nodes:
            node.stop()
    assert read == f"{GIVEN} {FAMILY}".encode()
    assert [files_holding(tmp_path / f"n{i}", GIVEN) for i in (1, 2, 3)] == [[], [], []]
