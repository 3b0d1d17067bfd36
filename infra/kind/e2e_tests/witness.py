"""A TCP "witness" on the driver: records which address each task really ran from.

Why: a task can claim any node name; the network cannot lie about the source address of a TCP
connection. Each e2e task connects to the witness (on the bridge address, so the connection crosses the
task's own veth) and sends one JSON line; the witness records the peer address from ``accept()``, not from
the message. The tests then map peer addresses back to namespaces.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sighting:
    """One task start as seen by the driver: the peer address is the proof, the rest is the claim."""

    task: str
    peer_address: str
    claimed_node: str
    claimed_address: str
    received_at: float


class Witness:
    """Threaded TCP server on ``host`` (an ephemeral port) collecting :class:`Sighting` records."""

    def __init__(self, host: str) -> None:
        self._server = socket.create_server((host, 0))
        self._server.settimeout(0.2)
        self.host = host
        self.port: int = self._server.getsockname()[1]
        self._sightings: list[Sighting] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="e2e-witness", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) the tasks must connect to."""
        return (self.host, self.port)

    def __enter__(self) -> Witness:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting and close the socket (idempotent)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._server.close()

    def sightings(self) -> list[Sighting]:
        """A copy of everything recorded so far."""
        with self._lock:
            return list(self._sightings)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn, peer[0]), daemon=True).start()

    def _handle(self, conn: socket.socket, peer_address: str) -> None:
        with conn:
            conn.settimeout(10)
            data = b""
            try:
                while not data.endswith(b"\n"):
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                message = json.loads(data)
                sighting = Sighting(
                    task=str(message["task"]),
                    peer_address=peer_address,
                    claimed_node=str(message.get("node", "")),
                    claimed_address=str(message.get("local_address", "")),
                    received_at=time.time(),
                )
                # Record before acknowledging: once report() returns, the sighting is visible.
                with self._lock:
                    self._sightings.append(sighting)
                conn.sendall(b"ok\n")
            except (OSError, ValueError, KeyError) as exc:
                log.warning("witness.bad_report peer=%s error=%s", peer_address, str(exc))
                return
        log.debug(
            "witness.sighting task=%s peer=%s claimed=%s", sighting.task, peer_address, sighting.claimed_node
        )


def report(witness: tuple[str, int], task: str, node: str) -> str:
    """Called inside a task: tell the witness "task X starts here"; returns this end's local address."""
    with socket.create_connection(witness, timeout=10) as conn:
        local_address = str(conn.getsockname()[0])
        line = json.dumps({"task": task, "node": node, "local_address": local_address}) + "\n"
        conn.sendall(line.encode())
        if not conn.recv(16).startswith(b"ok"):
            raise ConnectionError(f"witness at {witness} did not acknowledge task {task!r}")
    return local_address
