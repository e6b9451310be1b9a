"""The grader's runner, inside the sandbox: run a notebook, then the hidden checks.

``python -m lstmbook.instructor.grader.inside.runner RESULT_FD`` (started by
:mod:`lstmbook.instructor.grader.sandbox`, never by hand).

Protocol, over this process's standard input and the pipe ``RESULT_FD``:

1. stdin, one JSON line: ``{"notebook": ..., "cell_timeout": s}``. The runner executes every
   cell of the notebook in a fresh kernel (errors and timeouts do not stop it).
2. The runner writes ``started`` to the pipe once the kernel is up, then ``ready``. Only then does the grader send, on stdin, the
   second JSON line: the hidden checks ``[[test, code], ...]``. So no check exists in the
   sandbox while the student's cells run, and no expected value ever does.
3. Each check runs as a cell of its own in the same kernel, with ``record`` bound to its test.
4. The runner writes one JSON line to the pipe: the student's notebook as its own cells left
   it (outputs cut to a per-cell cap; nothing the checks changed), the records of each test,
   and each check's error if it stopped (the exception's type and the student's cell and
   line, never its message).

The runner trusts nothing it reads back from the kernel: it is the grader, outside the
sandbox, that parses, bounds and judges what comes out.
"""
from __future__ import annotations

import copy
import json
import os
import re
import stat
import sys
import tempfile
from pathlib import Path

MAX_RECORD_BYTES = 8_000_000  # per test
#: What one cell's outputs may keep (an honest notebook that prints 30 MB is graded, its
#: outputs cut): characters of text, bytes of images and other data, number of outputs.
CELL_TEXT_CHARS = 200_000
CELL_DATA_BYTES = 4_000_000
CELL_OUTPUTS = 100
#: A traceback line naming a notebook cell: IPython writes ``Cell In[7], line 12``.
_CELL_LINE = re.compile(r"Cell In\[(\d+)\], line (\d+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _error_of(cell, counts: dict[int, int]) -> str:
    """A check's error as ``ename`` and, when the traceback names one, the student's cell and
    line (``ValueError at cell 7, line 12``). Never the message: a student's code can raise
    an exception whose text is whatever it read, the calling check's source included."""
    from lstmbook.check import first_error

    out = first_error(cell.get("outputs", []))
    if not out:
        return ""
    where = ""
    for line in reversed(out.get("traceback") or []):
        m = _CELL_LINE.search(_ANSI.sub("", str(line)))
        if m and int(m.group(1)) in counts:
            where = f" at cell {counts[int(m.group(1))]}, line {m.group(2)}"
            break
    return f"{str(out.get('ename', 'Error'))[:100]}{where}"


def _cap(cell) -> None:
    """Cut ``cell``'s outputs to the per-cell caps, saying so in the output."""
    text_left, data_left, kept = CELL_TEXT_CHARS, CELL_DATA_BYTES, []
    outputs = cell.get("outputs", [])
    for out in outputs[:CELL_OUTPUTS]:
        if out.get("output_type") == "stream":
            text = out.get("text", "")
            text = "".join(text) if isinstance(text, list) else str(text)
            if len(text) > text_left:
                out["text"] = text[:max(text_left, 0)] + (
                    f"\n[the grader cut this cell's output here: more than {CELL_TEXT_CHARS} characters]\n")
                kept.append(out)
                text_left = -1
                break
            text_left -= len(text)
        elif isinstance(out.get("data"), dict):
            size = sum(len(v) if isinstance(v, str) else len(str(v)) for v in out["data"].values())
            if size > data_left:
                out["data"] = {"text/plain": f"[the grader dropped an output of {size} bytes]"}
                out.pop("metadata", None)
            else:
                data_left -= size
        elif out.get("output_type") == "error":
            out["traceback"] = [str(t)[:5000] for t in (out.get("traceback") or [])[:50]]
            out["evalue"] = str(out.get("evalue", ""))[:5000]
        kept.append(out)
    if len(outputs) > CELL_OUTPUTS and text_left >= 0:
        kept.append({"output_type": "stream", "name": "stdout",
                     "text": f"[the grader dropped {len(outputs) - CELL_OUTPUTS} more outputs of this cell]\n"})
    cell["outputs"] = kept


def _read_records(records_fd: int, name: str) -> str | None:
    """A test's records, read without following links, never blocking: None unless the
    file is a regular file in the records folder."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=records_fd)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, MAX_RECORD_BYTES).decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def main(argv: list[str]) -> int:
    if len(argv) > 1 and os.getuid() == 0:  # started as root: become the sandbox's own uid
        uid = int(argv[1])
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    os.umask(0o077)
    result = os.fdopen(int(argv[0]), "w", encoding="utf-8")
    os.set_inheritable(result.fileno(), False)
    header = json.loads(sys.stdin.readline())

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    from .record import ENV

    work = Path(tempfile.mkdtemp(prefix="work-", dir=os.environ.get("TMPDIR", "/tmp")))
    records = Path(tempfile.mkdtemp(prefix="records-", dir=os.environ.get("TMPDIR", "/tmp")))
    # opened now, before any student code runs: replacing the folder later changes nothing
    records_fd = os.open(records, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    os.environ[ENV] = str(records)
    nb = nbformat.reads(header["notebook"], as_version=4)
    client = NotebookClient(nb, timeout=header.get("cell_timeout", 300), allow_errors=True,
                            interrupt_on_timeout=True, kernel_name="python3",
                            record_timing=False, resources={"metadata": {"path": str(work)}},
                            shutdown_kernel="immediate")  # the grader kills the process group anyway
    died = ""
    checks_out: dict[str, str] = {}
    counts: dict[int, int] = {}  # execution count -> the student's cell (1-based)
    with client.setup_kernel():
        # the kernel is up: from here on, a run that stops is the submission's doing
        result.write("started\n")
        result.flush()
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            try:
                client.execute_cell(cell, index)
            except DeadKernelError:
                died = f"the kernel died while running cell {index + 1} (its code exits or crashes Python)"
                break
            except Exception as exc:  # a cell timeout that could not be interrupted, ...
                died = f"cell {index + 1} stopped the run ({type(exc).__name__})"
                break
            finally:
                _cap(cell)
                if isinstance(cell.get("execution_count"), int):
                    counts[cell["execution_count"]] = index + 1
        # The notebook as graded is the notebook as its own cells left it: whatever the
        # checks make the student's code display (update_display into an earlier output,
        # a hook that prints each check's source) is discarded with this copy.
        student_cells = copy.deepcopy(nb.cells)
        result.write("ready\n")
        result.flush()
        checks = json.loads(sys.stdin.readline() or "[]")
        for test, code in checks:
            if died:
                checks_out[test] = died
                continue
            src = (f"record = __import__('lstmbook.instructor.grader.inside.record', fromlist=['Recorder']).Recorder({test!r})\n"
                   + code)
            cell = nbformat.v4.new_code_cell(src)
            nb.cells.append(cell)
            try:
                client.execute_cell(cell, len(nb.cells) - 1)
                checks_out[test] = _error_of(cell, counts)
            except DeadKernelError:
                died = f"the kernel died during the check {test}"
                checks_out[test] = died
            except Exception as exc:
                checks_out[test] = f"{type(exc).__name__} (the check did not finish)"
            cell.outputs = []  # a check's outputs can be large; they are never looked at
    nb.cells = student_cells  # the checks never leave the sandbox in the notebook
    recs = {}
    for test, _ in checks:
        text = _read_records(records_fd, f"{test}.jsonl")
        if text is not None:
            recs[test] = text
    result.write(json.dumps({"notebook": nbformat.writes(nb), "records": recs,
                             "check_errors": checks_out, "died": died}) + "\n")
    result.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
