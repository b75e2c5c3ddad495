r"""Scale-out on JAX's own runtime: one device mesh with named axes, and many processes.

**The mesh.** Every sharded computation of bayeskd runs on one :class:`jax.sharding.Mesh` whose
axes have fixed names:

=============  ==================================================================================
``members``    the member axis of :func:`bayeskd.training.fit` (seeds, ensemble members, sweep
               configurations, SWAG/SGLD chains): independent programs, no communication
``data``       the rows of the training arrays (and the teacher tables read with them)
``vocab``      the classes of a large output head (``fused_linear_distillation(...,
               implementation="vocab_sharded")`` of :mod:`bayeskd.losses.fused`)
=============  ==================================================================================

:func:`make_mesh` builds it from a device count and the sizes of ``data`` and ``vocab`` (the rest
goes to ``members``); ``fit(..., mesh=mesh)`` checks it (:func:`resolve_mesh`), places the
training state with its member axis over ``members`` and the data rows and teacher tables over
``data`` (:func:`place_training`, also after a restore from a checkpoint), and keeps every
minibatch's rows over ``data`` inside the compiled step (:func:`constrain_rows`); ``jax.jit``
propagates the rest, so the numbers are those of one device up to float reassociation.

**Many processes.** :func:`initialize` calls :func:`jax.distributed.initialize` from explicit
arguments or the environment (``BAYESKD_COORDINATOR``, ``BAYESKD_NUM_PROCESSES``,
``BAYESKD_PROCESS_ID``; on SLURM, ``SLURM_*`` variables are detected by JAX itself), with CPU
collectives through gloo, so the devices of every process form one mesh. Arrays are made global
with :func:`put_global` (every process holds the same host value) and read back with
:func:`to_host`. Only process 0 writes outputs (:func:`is_main_process`, used by
:mod:`bayeskd.io`).

**From the command line** every job takes ``--devices N`` (default: all devices), ``--mesh
data=D,vocab=V`` and ``--coordinator HOST:PORT --num-processes P --process-id I``
(:func:`add_cli_flags`, :func:`setup_from_args`). Bad input (more devices than exist, a mesh
that does not divide the devices, a process id outside ``[0, P)``) is one ``ValueError`` line;
processes that disagree on ``--num-processes`` are one ``ValueError`` line from each; an
unreachable coordinator, or a process 0 whose peers do not all arrive, is a
:class:`DistributedInitError` line after ``--init-timeout`` seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from bayeskd.validate import check_positive_int

AXES = ("members", "data", "vocab")

__all__ = ["AXES", "SUPERVISED_ENV", "DistributedInitError", "Placed", "lost_peer_line",
           "supervise", "constrain_rows", "default_mesh",
           "initialize", "is_main_process", "make_mesh", "parse_mesh", "place_training",
           "put_global", "resolve_mesh", "to_host", "use_mesh"]


class DistributedInitError(RuntimeError):
    """The processes could not form one runtime (coordinator unreachable, timeout)."""


def make_mesh(devices: int | None = None, *, data: int = 1, vocab: int = 1) -> Mesh:
    """A mesh ``(members, data, vocab)`` over the first ``devices`` devices of all processes.

    ``members = devices / (data * vocab)``. Devices are taken in :func:`jax.devices` order, so
    in a multi-process run every process builds the same mesh.

    Args:
      devices: how many devices (default: all of them, every process's).
      data: size of the ``data`` axis (rows of the training arrays).
      vocab: size of the ``vocab`` axis (classes of a large head).

    Raises:
      ValueError: ``devices`` larger than the devices available, or ``data * vocab`` not
        dividing it.

    Example:
      >>> mesh = make_mesh(1)
      >>> dict(mesh.shape)
      {'members': 1, 'data': 1, 'vocab': 1}
    """
    available = jax.devices()
    n = len(available) if devices is None else check_positive_int(devices, name="devices")
    data = check_positive_int(data, name="data")
    vocab = check_positive_int(vocab, name="vocab")
    if n > len(available):
        raise ValueError(f"devices: at most {len(available)} {available[0].platform.upper()} "
                         f"device(s) are available, got {n}")
    if n % (data * vocab):
        raise ValueError(f"mesh: data * vocab = {data * vocab} must divide the {n} devices, "
                         f"got data={data}, vocab={vocab}")
    grid = np.asarray(available[:n], dtype=object).reshape(n // (data * vocab), data, vocab)
    return Mesh(grid, AXES)


def parse_mesh(text: str | None) -> dict[str, int]:
    """``"data=2,vocab=4"`` -> ``{"data": 2, "vocab": 4}`` (the ``--mesh`` flag; members is the rest).

    Example:
      >>> parse_mesh("data=2")
      {'data': 2}
    """
    if not text:
        return {}
    out: dict[str, int] = {}
    for part in text.split(","):
        name, _, size = part.partition("=")
        name = name.strip()
        if name not in ("data", "vocab") or not size.strip().isdigit() or int(size) < 1:
            raise ValueError(f"--mesh: must look like data=D,vocab=V with positive integers "
                             f"(members take the remaining devices), got {text!r}")
        out[name] = int(size)
    return out


# --------------------------------------------------------------------------------------------
# The default mesh (set by the command line), and placement of host values on a mesh.
# --------------------------------------------------------------------------------------------

_DEFAULT: list[Mesh | None] = [None]


def default_mesh() -> Mesh | None:
    """The mesh set by :func:`use_mesh` (the CLI's ``--devices``), or ``None``."""
    return _DEFAULT[0]


@contextlib.contextmanager
def use_mesh(mesh: Mesh | None) -> Iterator[Mesh | None]:
    """Make ``mesh`` the default of ``fit(..., mesh=None)`` inside the block.

    ``fit`` applies the default mesh to the runs it divides (members and batch) and runs the
    others on one device; an explicit ``fit(..., mesh=...)`` is checked strictly instead.
    """
    saved = _DEFAULT[0]
    _DEFAULT[0] = mesh
    try:
        yield mesh
    finally:
        _DEFAULT[0] = saved


def put_global(tree: Any, shardings: Any) -> Any:
    """``tree``'s host values placed with ``shardings`` (a matching tree, or one sharding).

    Works on one process and on many: every process must hold the same values (they are read
    with ``np.asarray``); each device receives only its slice. PRNG key arrays keep their type.
    """
    if isinstance(shardings, jax.sharding.Sharding):
        shardings = jax.tree.map(lambda _: shardings, tree)

    def place(x, sharding):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            impl = jax.random.key_impl(x)
            return jax.random.wrap_key_data(place(jax.random.key_data(x), sharding), impl=impl)
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])

    return jax.tree.map(place, tree, shardings)


def to_host(tree: Any) -> Any:
    """Every leaf as a full host ``np.ndarray`` (keys stay keys), gathered across processes."""

    def gather(x):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            # Keys stay keys (on this process's default device), with their data gathered.
            return jax.random.wrap_key_data(gather(jax.random.key_data(x)),
                                            impl=jax.random.key_impl(x))
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree.map(gather, tree)


def leading_sharding(mesh: Mesh, axis: str | None) -> NamedSharding:
    """Leading array axis split over mesh axis ``axis`` (``None``: replicated), the rest whole."""
    return NamedSharding(mesh, PartitionSpec() if axis is None else PartitionSpec(axis))


# --------------------------------------------------------------------------------------------
# A training run on a mesh: which mesh, and where its state, data and tables live.
# --------------------------------------------------------------------------------------------


def mesh_axis(mesh: Mesh, name: str) -> str | None:
    """``name`` if the mesh has that axis with more than one device, else ``None`` (replicated)."""
    return name if mesh.shape.get(name, 1) > 1 else None


def resolve_mesh(mesh: Mesh | None, *, num_members: int, batch_size: int) -> Mesh | None:
    """The mesh a run uses: an explicit one (checked), else the default where it divides the run.

    An explicit mesh must divide ``M`` over ``members`` and the batch over ``data``; the default
    mesh of :func:`use_mesh` is skipped (``None``: one device) where it does not, so a job whose
    runs differ in size still runs them all.

    Raises:
      ValueError: an explicit mesh with axes outside :data:`AXES`, or one that does not divide
        ``num_members`` or ``batch_size``.
    """
    strict = mesh is not None
    mesh = mesh if strict else default_mesh()
    if mesh is None:
        return None
    unknown = [a for a in mesh.axis_names if a not in AXES]
    if unknown:
        raise ValueError(f"mesh: axes must be named among {AXES}, got {unknown}")
    m_size, d_size = mesh.shape.get("members", 1), mesh.shape.get("data", 1)
    if num_members % m_size:
        if strict:
            raise ValueError(f"mesh: its members axis ({m_size} devices) must divide "
                             f"num_members, got num_members={num_members}")
        return None
    if batch_size % d_size:
        if strict:
            raise ValueError(f"mesh: its data axis ({d_size} devices) must divide the batch, "
                             f"got batch_size={batch_size}")
        return None
    return mesh


def _prior_sharding(mesh: Mesh, shape: tuple, n: int, prior_axis: int | None,
                    rows: str | None) -> NamedSharding:
    """A prior leaf's placement: stacked ``[M, ...]`` over members; per-example rows over data."""
    lead: tuple = ()
    if prior_axis is not None:
        lead, shape = (mesh_axis(mesh, "members"),), shape[1:]
    row = (rows,) if rows is not None and len(shape) >= 1 and shape[0] == n else ()
    return NamedSharding(mesh, PartitionSpec(*lead, *row) if row else PartitionSpec(*lead))


class Placed(NamedTuple):
    """What :func:`place_training` returns; a part that was not given is ``None``."""

    state: Any
    data: Any
    prior: Any


def place_training(mesh: Mesh | None, *, state: Any = None, data: Mapping | None = None,
                   prior: Any = None, prior_axis: int | None = None) -> Placed:
    """A training run's arrays on ``mesh``: members over ``members``, rows over ``data``.

    - ``state`` (leaves ``[M, ...]``): the member axis split over ``members``.
    - ``data`` (arrays ``[N, ...]``): the rows split over ``data`` when its size divides ``N``,
      else replicated.
    - ``prior``: leaves stacked ``[M, ...]`` (``prior_axis=0``) split over ``members``; leaves
      with one row per example (a teacher table ``[N, K]``, or ``[M, N, K]`` stacked) split by
      rows like the data; the replicated rest stay as given (``jax.jit`` replicates them).

    Without a mesh the data become device arrays and the rest is returned as given.
    """
    if mesh is None:
        return Placed(state, None if data is None else {k: jax.device_put(v)
                                                        for k, v in data.items()}, prior)
    placed_state = None if state is None else put_global(
        state, leading_sharding(mesh, mesh_axis(mesh, "members")))
    placed_data = placed_prior = None
    if data is not None:
        n = np.shape(next(iter(data.values())))[0]
        rows = mesh_axis(mesh, "data") if n % mesh.shape.get("data", 1) == 0 else None
        placed_data = put_global(dict(data), leading_sharding(mesh, rows))
        if prior is not None:
            leaves, treedef = jax.tree.flatten(prior)
            specs = [_prior_sharding(mesh, np.shape(a), n, prior_axis, rows) for a in leaves]
            placed_prior = jax.tree.unflatten(treedef, [
                a if s.is_fully_replicated else put_global(a, s)
                for a, s in zip(leaves, specs, strict=True)])
    return Placed(placed_state, placed_data, placed_prior)


def constrain_rows(batch: Any, mesh: Mesh | None) -> Any:
    """Inside a compiled step: every leaf of ``batch`` with its rows over the ``data`` axis.

    The identity without a mesh or with a ``data`` axis of one device. Under :func:`jax.vmap`
    (the trainer's member axis) the mapped axis is left to the compiler.
    """
    if mesh is None or mesh_axis(mesh, "data") is None:
        return batch
    sharding = leading_sharding(mesh, "data")
    return jax.tree.map(lambda a: jax.lax.with_sharding_constraint(a, sharding), batch)


def is_main_process() -> bool:
    """Whether this process writes outputs: process 0, or the only one."""
    return jax.process_index() == 0


def process_count() -> int:
    """How many processes run this job (1 without ``jax.distributed``)."""
    return jax.process_count()


def broadcast_bytes(data: bytes) -> bytes:
    """Process 0's ``data`` on every process of a multi-process run, through JAX's own
    collectives (``multihost_utils.broadcast_one_to_all``); the other processes' ``data`` is
    ignored. One process: ``data`` itself."""
    if jax.process_count() == 1:
        return data
    from jax.experimental import multihost_utils

    n = int(multihost_utils.broadcast_one_to_all(np.int64(len(data))))
    buf = (np.frombuffer(data, np.uint8) if is_main_process() else np.zeros(n, np.uint8))
    if n == 0:
        return b""
    return np.asarray(multihost_utils.broadcast_one_to_all(buf)).tobytes()


# --------------------------------------------------------------------------------------------
# Many processes: jax.distributed from arguments or the environment.
# --------------------------------------------------------------------------------------------

ENV = {"coordinator": "BAYESKD_COORDINATOR", "num_processes": "BAYESKD_NUM_PROCESSES",
       "process_id": "BAYESKD_PROCESS_ID"}


def _env_int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(ENV[name])
    if raw is None or raw == "":
        return None
    if not raw.strip().isdigit():
        raise ValueError(f"{ENV[name]}: must be a non-negative integer, got {raw!r}")
    return int(raw)


def process_settings(coordinator: str | None = None, num_processes: int | None = None,
                     process_id: int | None = None, *,
                     env: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The checked ``(coordinator, num_processes, process_id)`` of a run, or ``None`` for one process.

    Arguments win over ``BAYESKD_*`` variables. ``None`` also when nothing is given and a SLURM
    job of more than one task is not detected; for SLURM (``SLURM_NTASKS > 1``) the settings are
    left to JAX's own cluster detection (``{"cluster": "slurm"}``).

    Raises:
      ValueError: a partial set (a count without a coordinator, ...), ``num_processes < 1``, a
        ``process_id`` outside ``[0, num_processes)``, or a coordinator without ``:PORT``.
    """
    env = os.environ if env is None else env
    coordinator = coordinator or env.get(ENV["coordinator"]) or None
    num_processes = num_processes if num_processes is not None else _env_int(env, "num_processes")
    process_id = process_id if process_id is not None else _env_int(env, "process_id")
    given = {"coordinator": coordinator, "num_processes": num_processes, "process_id": process_id}
    if all(v is None for v in given.values()):
        if int(env.get("SLURM_NTASKS", "1") or 1) > 1 and "SLURM_STEP_NODELIST" in env:
            return {"cluster": "slurm"}
        return None
    missing = [k for k, v in given.items() if v is None]
    if missing:
        raise ValueError(f"--{missing[0].replace('_', '-')}: a multi-process run needs "
                         "--coordinator, --num-processes and --process-id together (or "
                         f"{', '.join(ENV.values())})")
    num_processes = check_positive_int(num_processes, name="num_processes")
    if not (isinstance(process_id, int) and 0 <= process_id < num_processes):
        raise ValueError(f"--process-id: must lie in [0, {num_processes}) for --num-processes "
                         f"{num_processes}, got {process_id!r}")
    host, _, port = str(coordinator).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--coordinator: must be HOST:PORT with a port in 1..65535, got "
                         f"{coordinator!r}")
    return given


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, local_devices: int | None = None,
               timeout_s: int = 60, env: Mapping[str, str] | None = None) -> bool:
    """Join this process to a multi-process JAX runtime; ``False`` when it runs alone.

    Must run before anything touches a device. CPU collectives go through gloo, so CPU
    processes can form one mesh (on GPU and TPU the platform's own collectives are used).

    Args:
      coordinator: ``HOST:PORT`` of process 0 (``BAYESKD_COORDINATOR``).
      num_processes: how many processes (``BAYESKD_NUM_PROCESSES``).
      process_id: this process's index in ``[0, num_processes)`` (``BAYESKD_PROCESS_ID``).
      local_devices: for CPU runs, how many CPU devices this process has (sets
        ``jax_num_cpu_devices``; ``None`` leaves it).
      timeout_s: seconds to wait for all processes to connect.

    Raises:
      ValueError: inconsistent settings (see :func:`process_settings`).
      DistributedInitError: the coordinator could not be reached or the processes did not all
        connect within ``timeout_s``.
    """
    settings = process_settings(coordinator, num_processes, process_id, env=env)
    timeout_s = check_positive_int(timeout_s, name="init_timeout")
    if local_devices is not None:
        jax.config.update("jax_num_cpu_devices", check_positive_int(local_devices,
                                                                    name="local_devices"))
    if settings is None:
        return False
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    kwargs: dict[str, Any] = {"initialization_timeout": timeout_s}
    if "cluster" in settings:
        kwargs["cluster_detection_method"] = settings["cluster"]
    else:
        kwargs.update(coordinator_address=settings["coordinator"],
                      num_processes=settings["num_processes"], process_id=settings["process_id"])
    if "coordinator" in settings:
        _rendezvous(settings["coordinator"], settings["process_id"], settings["num_processes"],
                    timeout_s)
    try:
        jax.distributed.initialize(**kwargs)
    except Exception as e:  # noqa: BLE001 - the runtime raises XlaRuntimeError and others
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        where = settings.get("coordinator", "the SLURM coordinator")
        raise DistributedInitError(f"coordinator {where}: could not form the runtime within "
                                   f"{timeout_s} s ({first[:200]})") from None
    return True


def _rendezvous(coordinator: str, process_id: int, num_processes: int, timeout_s: int) -> None:
    """Meet every process on the coordinator address before JAX's runtime does; one line if not.

    JAX's runtime terminates the process (no Python exception) when its peers never connect,
    and does not compare process counts. So first, process 0 listens on the coordinator address
    and waits up to ``timeout_s`` for all ``num_processes - 1`` peers; each peer connects
    (retrying, as process 0 may start later) and sends ``{"process_id", "num_processes"}``;
    process 0 answers every peer with its own count and an error, if any, once all have come
    or one disagrees. Then process 0 closes the address for JAX's coordination service.

    Raises:
      ValueError: the processes disagree on ``--num-processes``, or two share a ``--process-id``
        (bad input; reported by process 0 and by the peer concerned).
      DistributedInitError: process 0 cannot listen on the address, a peer cannot reach it, or
        not every peer arrived within ``timeout_s``.
    """
    host, _, port = coordinator.rpartition(":")
    address = (host.strip("[]"), int(port))
    deadline = time.monotonic() + timeout_s
    if process_id == 0:
        _meet_peers(coordinator, address, num_processes, deadline, timeout_s)
    else:
        _meet_process_zero(coordinator, address, process_id, num_processes, deadline, timeout_s)


def _meet_peers(coordinator, address, num_processes, deadline, timeout_s) -> None:
    """Process 0's side of :func:`_rendezvous`."""
    try:
        server = socket.create_server(address)
    except OSError as e:
        raise DistributedInitError(f"coordinator {coordinator}: process 0 cannot listen there "
                                   f"({e.strerror or e})") from None
    peers: dict[int, socket.socket] = {}
    error: Exception | None = None
    with server:
        server.settimeout(0.2)
        while error is None and len(peers) < num_processes - 1:
            if time.monotonic() >= deadline:
                missing = sorted(set(range(1, num_processes)) - set(peers))
                error = DistributedInitError(
                    f"coordinator {coordinator}: process(es) {', '.join(map(str, missing))} of "
                    f"--num-processes {num_processes} did not arrive within {timeout_s} s")
                break
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            hello = _read_message(conn, deadline)
            if not isinstance(hello.get("process_id"), int):
                conn.close()  # not a bayeskd process (a port probe): ignore it
                continue
            pid, count = hello["process_id"], hello.get("num_processes")
            if count != num_processes:
                error = ValueError(f"--num-processes: process {pid} was started with {count}, "
                                   f"process 0 with {num_processes}")
            elif pid in peers:
                error = ValueError(f"--process-id: two processes were started with {pid}")
            else:
                peers[pid] = conn
                continue
            with conn:
                _send_message(conn, {"num_processes": num_processes, "error": str(error)})
        answer = {"num_processes": num_processes, "error": None if error is None else str(error)}
        for conn in peers.values():
            with conn:
                _send_message(conn, answer)
                with contextlib.suppress(OSError):
                    conn.settimeout(1.0)
                    conn.recv(1)  # the peer closes first, so the address is free to reuse
    if error is not None:
        raise error


def _meet_process_zero(coordinator, address, process_id, num_processes, deadline,
                       timeout_s) -> None:
    """A peer's side of :func:`_rendezvous`."""
    while True:
        try:
            conn = socket.create_connection(address, timeout=2.0)
            break
        except OSError as e:
            if time.monotonic() >= deadline:
                raise DistributedInitError(
                    f"coordinator {coordinator}: unreachable after {timeout_s} s "
                    f"({e.strerror or e}); is process 0 running there?") from None
            time.sleep(0.2)
    with conn:  # process 0 started before we connected: its deadline ends within timeout_s
        _send_message(conn, {"process_id": process_id, "num_processes": num_processes})
        answer = _read_message(conn, time.monotonic() + timeout_s)
    count = answer.get("num_processes")
    if count is not None and count != num_processes:
        raise ValueError(f"--num-processes: process 0 was started with {count}, process "
                         f"{process_id} with {num_processes}")
    if not answer or answer.get("error"):
        why = answer.get("error") or f"it closed the connection or gave no answer in {timeout_s} s"
        raise DistributedInitError(f"coordinator {coordinator}: process 0 stopped the run: "
                                   f"{why}")


def _send_message(conn: socket.socket, message: dict) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps(message).encode() + b"\n")


def _read_message(conn: socket.socket, deadline: float) -> dict:
    """One JSON line from ``conn`` before ``deadline``; ``{}`` on a timeout, EOF or garbage."""
    data = b""
    try:
        while not data.endswith(b"\n"):
            conn.settimeout(max(deadline - time.monotonic(), 0.05))
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        message = json.loads(data)
    except (OSError, ValueError):
        return {}
    return message if isinstance(message, dict) else {}


# --------------------------------------------------------------------------------------------
# The command line: the same flags on every job.
# --------------------------------------------------------------------------------------------


def add_cli_flags(parser) -> None:
    """Add ``--devices``, ``--mesh``, ``--coordinator``, ``--num-processes``, ``--process-id``."""
    g = parser.add_argument_group("devices and processes")
    g.add_argument("--devices", type=int, default=None,
                   help="devices to use (default: all, across processes)")
    g.add_argument("--mesh", default=None, metavar="data=D,vocab=V",
                   help="mesh axes besides members (members take the remaining devices)")
    g.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help="address of process 0 of a multi-process run (env BAYESKD_COORDINATOR)")
    g.add_argument("--num-processes", type=int, default=None,
                   help="processes in the run (env BAYESKD_NUM_PROCESSES)")
    g.add_argument("--process-id", type=int, default=None,
                   help="this process's index (env BAYESKD_PROCESS_ID)")
    g.add_argument("--init-timeout", type=int, default=60,
                   help="seconds to wait for the coordinator and every process (default 60)")


def setup_from_args(args) -> Mesh | None:
    """Start the processes and build the default mesh the flags of :func:`add_cli_flags` ask for.

    Returns ``None`` (no mesh: single-device behaviour) when one device is used and no mesh
    axes are asked for.
    """
    axes = parse_mesh(getattr(args, "mesh", None))
    devices = getattr(args, "devices", None)
    if devices is not None:
        check_positive_int(devices, name="--devices")
    initialize(getattr(args, "coordinator", None), getattr(args, "num_processes", None),
               getattr(args, "process_id", None), timeout_s=getattr(args, "init_timeout", 60))
    try:
        mesh = make_mesh(devices, **axes)
    except ValueError as e:
        raise ValueError(f"--{e}") from None
    return None if mesh.devices.size == 1 else mesh


# --------------------------------------------------------------------------- lost peers

#: Set in a supervised child, so that it runs the command instead of supervising again.
SUPERVISED_ENV = "BAYESKD_SUPERVISED"
#: What the runtime prints when it ends a process because the coordination service failed.
_LOST = re.compile(r"distributed service detected fatal errors|Failed to send RPC to "
                   r"coordination service|heartbeat|Gloo .* failed|Connection reset by peer",
                   re.I)
#: The runtime's own lines: glog lines (``W1207 08:16:22.7 …``), gRPC details, abort traces.
_RUNTIME = re.compile(r"^([WEFI]\d{4} \d\d:\d\d|Additional GRPC error|:UNKNOWN:|\*\*\* Check "
                      r"failure|\s+@\s+0x)")


def lost_peer_line(runtime_text: str, last_line: str, process_id: int | None) -> str:
    """The one line a survivor prints: which process was lost, and what this one was doing.

    The runtime names the lost task (``task:K``) or the leader (process 0) when the
    coordinator's own process died.
    """
    tasks = [int(k) for k in re.findall(r"task:(\d+)", runtime_text) if int(k) != process_id]
    lost = "process 0 (the coordinator)" if ("leader" in runtime_text or not tasks) \
        else f"process {tasks[0]}"
    after = f' after "{last_line.strip()}"' if last_line.strip() else ""
    return (f"bayeskd: error: {lost} of this run was lost; this process stopped{after}. "
            "Finished units and checkpoints are kept: run the same command on every process "
            "to resume")


def supervise(cmd: list[str], *, process_id: int | None = None,
              env: Mapping[str, str] | None = None) -> int:
    """Run ``cmd``, one process of a multi-process run, as a child and pass its output through.

    When a peer dies, the child either raises in a collective (gloo: connection reset) or is
    aborted by JAX's runtime with a C++ stack trace (exit 134). Tracebacks and the runtime's
    lines are held back; if the child fails and they name a lost peer, the survivor prints the
    single line of :func:`lost_peer_line` instead and returns 1. Any other ending passes the
    held lines through and returns the child's status.
    """
    child_env = dict(os.environ if env is None else env, **{SUPERVISED_ENV: "1"})
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env, bufsize=1)
    held: list[str] = []
    last, tracing = [""], [False]

    def relay(stream, sink):
        for line in stream:
            tracing[0] = tracing[0] or line.startswith("Traceback (most recent call last)")
            if tracing[0] or _RUNTIME.match(line) or _LOST.search(line) or (
                    held and line.startswith(" ")):
                held.append(line)  # shown at the end unless a lost peer explains them
                continue
            last[0] = line if line.strip() and not line.startswith("|") else last[0]
            sink.write(line)
            sink.flush()

    out = threading.Thread(target=relay, args=(proc.stdout, sys.stdout), daemon=True)
    out.start()
    relay(proc.stderr, sys.stderr)
    out.join()
    code = proc.wait()
    text = "".join(held)
    if code != 0 and _LOST.search(text):
        sys.stderr.write(lost_peer_line(text, last[0], process_id) + "\n")
        return 1
    sys.stderr.write(text)
    return code
