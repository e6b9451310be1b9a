"""The grader's runner, inside the sandbox: run a notebook, then the hidden checks.

``python -m lstmbook.instructor.grader.inside.runner RESULT_FD`` (started by
:mod:`lstmbook.instructor.grader.sandbox`, never by hand).

Protocol, over this process's standard input and the pipe ``RESULT_FD``:

1. stdin, one JSON line: ``{"notebook": ..., "cell_timeout": s}``. The runner executes every
   cell of the notebook in a fresh kernel (errors and timeouts do not stop it).
2. The runner writes ``ready`` to the pipe. Only then does the grader send, on stdin, the
   second JSON line: the hidden checks ``[[test, code], ...]``. So no check exists in the
   sandbox while the student's cells run, and no expected value ever does.
3. Each check runs as a cell of its own in the same kernel, with ``record`` bound to its test.
4. The runner writes one JSON line to the pipe: the executed notebook without the checks,
   the records of each test, and each check's error (``ename: evalue``) if it stopped.

The runner trusts nothing it reads back from the kernel: it is the grader, outside the
sandbox, that parses, bounds and judges what comes out.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

MAX_RECORD_BYTES = 8_000_000  # per test


def _error_of(cell) -> str:
    from lstmbook.check import first_error

    out = first_error(cell.get("outputs", []))
    return f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"[:500] if out else ""


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
    os.environ[ENV] = str(records)
    nb = nbformat.reads(header["notebook"], as_version=4)
    client = NotebookClient(nb, timeout=header.get("cell_timeout", 300), allow_errors=True,
                            interrupt_on_timeout=True, kernel_name="python3",
                            record_timing=False, resources={"metadata": {"path": str(work)}},
                            shutdown_kernel="immediate")  # the grader kills the process group anyway
    died = ""
    checks_out: dict[str, str] = {}
    n_student = len(nb.cells)
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            try:
                client.execute_cell(cell, index)
            except DeadKernelError:
                died = f"the kernel died while running cell {index + 1} (its code exits or crashes Python)"
                break
            except Exception as exc:  # a cell timeout that could not be interrupted, ...
                died = f"cell {index + 1} stopped the run: {type(exc).__name__}: {str(exc)[:300]}"
                break
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
                checks_out[test] = _error_of(cell)
            except DeadKernelError:
                died = f"the kernel died during the check {test}"
                checks_out[test] = died
            except Exception as exc:
                checks_out[test] = f"{type(exc).__name__}: {str(exc)[:300]}"
    del nb.cells[n_student:]  # the checks never leave the sandbox in the notebook
    recs = {}
    for test, _ in checks:
        path = records / f"{test}.jsonl"
        if path.is_file() and not path.is_symlink():
            with open(path, encoding="utf-8", errors="replace") as fh:
                recs[test] = fh.read(MAX_RECORD_BYTES)
    result.write(json.dumps({"notebook": nbformat.writes(nb), "records": recs,
                             "check_errors": checks_out, "died": died}) + "\n")
    result.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
