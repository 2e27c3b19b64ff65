"""Keras Tuner's own distributed mode: a chief serves the oracle over gRPC, workers train.

Longer than 300 lines: the chief's server, its worker protocol and the workers' loop speak
one gRPC protocol through Keras Tuner's private modules, and are kept together so that the
one place using them is easy to check against a new Keras Tuner release.

Every process runs the same ``autodl search ... --backend kerastuner`` command; KT's
environment variables pick its role (``keras_tuner.src.distribute.utils``):

* ``KERASTUNER_ORACLE_IP`` / ``KERASTUNER_ORACLE_PORT``: where the chief listens and the
  workers connect. Setting the IP is what turns the mode on.
* ``KERASTUNER_TUNER_ID``: ``chief`` for the oracle server (KT: any id containing
  "chief"), a unique id per worker (``tuner0``, ``tuner1``...).

Choices:

* The chief trains nothing, as in KT: it serves its oracle, owns the budget (its
  ``--trials`` and ``--timeout``; a worker's ``--trials`` is ignored) and keeps KT's
  project (``oracle.json``, ``trial_*/trial.json`` for every trial of every worker).
* Workers ask for trials through KT's ``OracleClient`` (``BaseTuner`` wraps the oracle in
  it) and run them through autodl's runner until the chief answers ``STOPPED``. A
  worker's ``--timeout`` stops only that worker.
* One run folder per process (``--name kt-chief``, ``--name kt-w0``...): each worker's
  ``trials.json``, models and report hold the trials it ran, under the chief's global
  trial numbers; no two processes write one file. ``claim_project`` refuses a run folder
  that another process (another tuner id) already uses.
* The chief exits when, after some worker was told ``STOPPED`` (or the chief's timeout),
  no trial is running and every worker that asked for trials has been told ``STOPPED``
  or has left: KT's ``exit_chief`` condition, polled every ``POLL_SECONDS`` instead of
  KT's 20 s, with the server stopped gracefully so the last answers reach the workers.
* A worker that stops without being told ``STOPPED`` (Ctrl-C, its timeout, an error, a
  lost chief) leaves: it sends ``CreateTrial`` with the tuner id ``LEAVE_PREFIX + id``.
  The chief ends the trial that worker held as interrupted (not counted: the slot is
  run again under a new number) and stops waiting for it. KT's protocol has no such
  message (its trial protos carry no ``message``), so this only works between autodl
  processes; a stock KT chief would treat it as one more worker.
* A worker killed with SIGKILL cannot leave: its trial stays running on the chief, which
  waits. Restart it with the same ``KERASTUNER_TUNER_ID`` (``autodl resume <its run>``):
  KT hands a restarted tuner id the trial it held.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from autodl.backends.kerastuner_hp import INTERRUPTED_MESSAGE, declare_space, quiet
from autodl.exceptions import RunError, UsageError

ENV_IP, ENV_PORT, ENV_ID = "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"
LEAVE_PREFIX = "autodl-leave:"
POLL_SECONDS = 0.2  # the chief's check for the end of the search
IDLE_SECONDS = 1.0  # a worker's pause when the oracle has no trial yet (Hyperband rounds)
GRACE_SECONDS = 5.0  # the chief's server finishes answering in-flight requests
LEAVE_TIMEOUT = 10.0  # a leaving worker does not wait for a chief that is gone
ROLE_FILE = "autodl_role.json"
# gRPC's reconnection backoff grows to 2 minutes; a worker waiting for its chief retries
# every few seconds instead, so it starts soon after the chief does.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.min_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 3000),
]


def role() -> str | None:
    """``"chief"``, ``"worker"`` or None (one process), as Keras Tuner decides it."""
    if ENV_IP not in os.environ:
        return None
    missing = [name for name in (ENV_PORT, ENV_ID) if not os.environ.get(name)]
    if missing or not os.environ[ENV_IP]:
        raise UsageError(
            f"Keras Tuner's distributed mode needs {ENV_IP}, {ENV_PORT} and {ENV_ID} all set; "
            f"{', '.join(missing) or ENV_IP} {'is' if len(missing) < 2 else 'are'} empty or missing. "
            f"Set {ENV_ID}=chief on the oracle server and a unique id (tuner0, tuner1...) on each "
            f"worker, or unset {ENV_IP} to search in one process"
        )
    if not os.environ[ENV_PORT].isdigit():
        raise UsageError(f"{ENV_PORT} must be a port number, got {os.environ[ENV_PORT]!r}")
    return "chief" if "chief" in os.environ[ENV_ID] else "worker"


def address() -> str:
    return f"{os.environ[ENV_IP]}:{os.environ[ENV_PORT]}"


def tuner_id() -> str:
    return os.environ[ENV_ID]


def claim_project(project_dir: Path, current: str | None) -> None:
    """Tie a run folder to one process role, so two processes never share a KT project.

    ``current`` is this process's tuner id, or None for a one-process search.
    """
    path = project_dir / ROLE_FILE
    claimed = None
    if current is not None:
        project_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"tuner_id": current}, handle)
            return
    if path.is_file():
        with contextlib.suppress(OSError, ValueError, AttributeError):
            claimed = json.loads(path.read_text(encoding="utf-8")).get("tuner_id")
        claimed = claimed or "?"
    if claimed == current:
        return
    run = project_dir.parent
    if current is None:
        raise RunError(
            f"{run} belongs to Keras Tuner's distributed mode ({ENV_ID}={claimed}); resume it with "
            f"the same {ENV_IP}, {ENV_PORT} and {ENV_ID} set"
        )
    raise RunError(
        f"{run} is the run folder of the Keras Tuner process {ENV_ID}={claimed}, not {current}: every "
        f"process of a distributed search needs its own run folder (give each its own --name, for "
        f"example --name kt-{current}), and resumes it with its own {ENV_ID}"
    )


# ------------------------------------------------------------------------------ chief
def serve(backend: Any, *, n_trials: int, budget_spent: Callable[[], bool]) -> None:
    """Serve ``backend.oracle`` until the search is over; this process trains nothing."""
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import exit_chief

    oracle = backend.oracle
    servicer = _make_servicer(oracle, budget=lambda: n_trials + len(backend.interrupted_trials()))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))  # one request at a time, as KT
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(address())
    except RuntimeError:
        bound = 0
    if not bound:
        raise RunError(
            f"the Keras Tuner chief cannot listen on {address()}: the port is taken or the address "
            f"is not this machine's; pick another {ENV_PORT} (and give the workers the same)"
        )
    server.start()
    done = False
    try:
        while True:
            time.sleep(POLL_SECONDS)
            if not servicer.stopping and budget_spent():
                servicer.stopping = True  # hand out no new trials; wait for the running ones
            if (servicer.stop_triggered or servicer.stopping) and exit_chief(oracle):
                done = True
                break
    finally:
        server.stop(GRACE_SECONDS if done else None).wait()


def _make_servicer(oracle: Any, budget: Callable[[], int]) -> Any:
    """KT's ``OracleServicer`` plus autodl's budget, chief timeout and leaving workers."""
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer
    from keras_tuner.src.engine import trial as trial_module
    from keras_tuner.src.engine.oracle import synchronized

    @synchronized
    def leave(oracle: Any, worker: str) -> None:
        trial = oracle.ongoing_trials.get(worker)
        if trial is not None:  # its trial does not count; the slot is run again
            trial.status, trial.message = trial_module.TrialStatus.FAILED, INTERRUPTED_MESSAGE
            oracle.end_trial(trial)
        oracle.tuner_ids.discard(worker)

    @synchronized
    def stop(oracle: Any, worker: str) -> bool:
        if worker in oracle.ongoing_trials:  # a restarted worker gets its trial back
            return False
        oracle.tuner_ids.discard(worker)
        return True

    class Servicer(OracleServicer):
        stopping = False

        def CreateTrial(self, request: Any, context: Any) -> Any:
            worker = request.tuner_id
            if worker.startswith(LEAVE_PREFIX):
                leave(oracle, worker[len(LEAVE_PREFIX) :])
                return self._stopped(trigger=False)  # the budget is not spent: others may come
            if self.stopping and stop(oracle, worker):
                return self._stopped()
            oracle.max_trials = budget()  # interrupted trials give their slot back
            return super().CreateTrial(request, context)

        def _stopped(self, trigger: bool = True) -> Any:
            self.stop_triggered = self.stop_triggered or trigger
            trial = trial_module.Trial(oracle.get_space(), status=trial_module.TrialStatus.STOPPED)
            return protos.get_service().CreateTrialResponse(trial=trial.to_proto())

    for name in ("GetSpace", "UpdateSpace", "CreateTrial", "UpdateTrial", "EndTrial", "GetTrial", "GetBestTrials"):
        setattr(Servicer, name, _quietly(getattr(Servicer, name)))
    return Servicer(oracle)


def _quietly(method: Callable[..., Any]) -> Callable[..., Any]:
    """KT 1.4.8 prints from ``Parent.to_proto`` (a leftover debug print): drop it."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with quiet():
            return method(*args, **kwargs)

    return wrapper


# ------------------------------------------------------------------------------ workers
def work(backend: Any, run_trial: Callable[..., Any], *, budget_spent: Callable[[], bool]) -> None:
    """Run the chief's trials until it answers ``STOPPED`` (or this worker's time budget is spent)."""
    import grpc
    from keras_tuner.src.distribute.oracle_client import TIMEOUT

    client, me = backend.oracle, tuner_id()
    _reconnect_fast(client)
    told_to_stop = False
    try:
        timeout = backend.settings.timeout  # a worker waits for its chief no longer than its own budget
        _check_space(backend, TIMEOUT if timeout is None else max(1.0, min(TIMEOUT, timeout)))
        while not budget_spent():
            with _rpc("asking the chief for a trial"):
                trial = client.create_trial(me)
            if trial.status == "IDLE":  # the oracle waits for other workers' trials
                time.sleep(IDLE_SECONDS)
                continue
            if trial.status != "RUNNING":  # STOPPED: the shared budget is spent
                told_to_stop = True
                break
            backend.run_one(trial, run_trial)
    except grpc.RpcError as exc:  # raised inside the runner (ctx.finish tells the chief)
        _leave(client, me)
        raise _lost(exc, "reporting a trial") from exc
    except BaseException:
        _leave(client, me)
        raise
    if not told_to_stop:
        _leave(client, me)


def _check_space(backend: Any, wait: float) -> None:
    """Wait for the chief, then make sure it searches the space this worker samples."""
    import keras_tuner as kt
    from keras_tuner.src import protos

    with _rpc(f"waiting up to {wait:.0f} s for the chief", first=True):
        response = backend.oracle.stub.GetSpace(
            protos.get_service().GetSpaceRequest(), wait_for_ready=True, timeout=wait
        )
    remote = kt.HyperParameters.from_proto(response.hyperparameters)
    local = kt.HyperParameters()
    declare_space(backend.space, local)

    def names(hp: Any) -> set[str]:
        return {p.name for p in hp.space if not p.name.startswith("tuner/")}

    if names(remote) != names(local):

        def some(found: set[str]) -> str:
            listed = sorted(found)
            return ", ".join(listed[:4]) + (f" and {len(listed) - 4} more" if len(listed) > 4 else "") or "nothing"

        raise RunError(
            f"the Keras Tuner chief at {address()} searches another space than this worker "
            f"(--space {backend.space.name}): only the chief has {some(names(remote) - names(local))}; "
            f"only this worker has {some(names(local) - names(remote))}. Start every process with the "
            "same --space"
        )


def _reconnect_fast(client: Any) -> None:
    """Replace the client's channel by one that retries a missing chief every few seconds."""
    import grpc
    from keras_tuner.src import protos

    channel = grpc.insecure_channel(address(), options=CHANNEL_OPTIONS)
    client.stub = protos.get_service_grpc().OracleStub(channel)


def _leave(client: Any, me: str) -> None:
    """Tell the chief this worker is gone (best effort: the chief may be gone too)."""
    import grpc
    from keras_tuner.src import protos

    with contextlib.suppress(grpc.RpcError):
        client.stub.CreateTrial(
            protos.get_service().CreateTrialRequest(tuner_id=LEAVE_PREFIX + me), timeout=LEAVE_TIMEOUT
        )


@contextlib.contextmanager
def _rpc(doing: str, first: bool = False) -> Iterator[None]:
    import grpc

    try:
        yield
    except grpc.RpcError as exc:
        raise _lost(exc, doing, first) from exc


def _lost(exc: Any, doing: str, first: bool = False) -> RunError:
    code = exc.code().name if hasattr(exc, "code") else type(exc).__name__
    details = exc.details() if hasattr(exc, "details") else str(exc)
    hint = (
        f"is the chief ({ENV_ID}=chief) running with the same {ENV_IP} and {ENV_PORT}?"
        if first
        else "the chief stopped or crashed; this worker's finished trials are saved in its run folder"
    )
    return RunError(f"no answer from the Keras Tuner chief at {address()} while {doing} ({code}: {details}); {hint}")
