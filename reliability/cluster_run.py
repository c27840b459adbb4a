"""`make cluster`: the scale-out topology (reliability/cluster.py) on this machine until Ctrl-C.

    PYTHONPATH=. .venv/bin/python -m reliability.cluster_run [--data-dir var/cluster]

Three clustered nats-servers (streams at replicas 3), an embedded PostgreSQL, two replicas each
of the store writer, feedback and projections, intake and the mail sink. The data directory is
emptied at start: PostgreSQL's data is deleted when the cluster stops, so nothing outlives a run.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import threading
from pathlib import Path

from launcher.devstack_banner import controlling_terminal, curl_hint, store_description, users_block
from referral_loop.web.users import ensure_local_users
from reliability.cluster import Cluster, running_cluster


def banner(cluster: Cluster, passwords: bool) -> str:
    """Where everything is; the users' passwords only when `passwords` (a terminal)."""
    s = cluster.settings
    credentials = ensure_local_users(s.users_path)
    users = users_block(s, credentials, passwords)
    nodes = "\n".join(f"    {n.server_name}  {n.url}  (monitoring: {n.monitor_url})" for n in cluster.nodes)
    replicas = "\n".join(
        f"    {name:14} {cluster.ops_url(name)}/readyz  /metrics" for name in cluster.replica_settings
    )
    return (
        "\nReferral Loop cluster is running. Ctrl-C stops everything.\n\n"
        f"  Intake        {s.base_url}/   (OpenAPI: {s.base_url}/docs)\n"
        f"  NATS cluster  streams at replicas {s.nats_replicas}; stream leader now: "
        f"{cluster.stream_leader().server_name}\n{nodes}\n"
        f"  Event store   {store_description(s)}\n"
        f"  Mail          {s.mail_dir}/ (the sink's files)\n"
        f"  Logs          {s.data_dir}/logs/\n"
        f"  Replicas (one leads each role; metric referral_loop_leading):\n{replicas}\n\n"
        f"  Users:\n{users}\n\n"
        f"  Try:\n    {curl_hint(s, credentials, passwords)}\n"
    )


def print_banner(cluster: Cluster) -> None:
    """As `make run`: the passwords to the terminal only, never into a file stdout goes to."""
    terminal = sys.stdout.isatty()
    print(banner(cluster, passwords=terminal), flush=True)
    with controlling_terminal() as tty:
        if not terminal and tty is not None:
            credentials = ensure_local_users(cluster.settings.users_path)
            print(f"  Users:\n{users_block(cluster.settings, credentials)}\n", file=tty, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data-dir", type=Path, default=Path("var/cluster"))
    args = parser.parse_args()
    shutil.rmtree(args.data_dir, ignore_errors=True)
    args.data_dir.mkdir(parents=True)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    with running_cluster(args.data_dir.resolve()) as cluster:
        print_banner(cluster)
        while not stopping.wait(0.5):
            cluster.check()
    print("cluster stopped")


if __name__ == "__main__":
    main()
