"""Intake (trusted): find each student's notebook and read it safely.

Two layouts of hand-ins are read (:func:`layout_of` tells them apart):

- ``folders``: ``DIR/<student>/<chapter>.ipynb`` (a folder per student, however it was made);
- ``nbgrader``: nbgrader's own ``submitted/`` tree, as ``nbgrader collect`` fills it:
  ``submitted/<student>/<chapter>/<chapter>.ipynb`` and the ``timestamp.txt`` that
  ``nbgrader submit`` wrote beside it (nbgrader's assignment name is the chapter's slug).

No link is followed, sizes and formats are bounded, and a bad file gets a reason that names
it; a broken hand-in never stops the run.
"""
from __future__ import annotations

import datetime
import errno
import json
import os
import re
import stat
import unicodedata
from pathlib import Path

import nbformat

SKIP_DIRS = {".ipynb_checkpoints", "__MACOSX", ".git"}
NAME_PUNCTUATION = set("_.@+- ")
MAX_NAME_CHARS = 100
MAX_NAME_BYTES = 200  # a folder name is at most 255 bytes on common file systems
MAX_NOTEBOOK_BYTES = 20 * 2 ** 20
MAX_FILES = 200
MAX_TIMESTAMP_BYTES = 256
LAYOUTS = ("auto", "folders", "nbgrader")
TIMESTAMP = "timestamp.txt"
#: a time zone nbgrader's timestamp may name: an abbreviation (%Z: UTC, CET, EST) or an offset
#: a whole date and time, ISO 8601 or nbgrader's (a space between them), with an optional offset
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:?\d{2})?")
_ZONE = re.compile(r"[A-Za-z]{1,10}|[+-]\d{4}")


def grade_ids(nb) -> set[str]:
    """The grade_ids of a notebook's nbgrader cells."""
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if isinstance(c.get("metadata", {}).get("nbgrader"), dict)
            and isinstance(c.metadata["nbgrader"].get("grade_id"), str)}


def scan(folder: Path, depth: int = 0) -> tuple[list[Path], list[str]]:
    """Notebook files under ``folder`` (no links followed) and reasons for what was refused."""
    found, refused = [], []
    if depth > 3:
        return found, refused
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        return found, [f"cannot read {folder.name}: {exc.strerror}"]
    for entry in entries[:MAX_FILES]:
        if entry.name in SKIP_DIRS or entry.name.startswith("."):
            continue
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            if entry.name.endswith(".ipynb"):
                refused.append(f"{entry.name} is a symbolic link (refused)")
            continue
        if stat.S_ISDIR(st.st_mode):
            sub, why = scan(Path(entry.path), depth + 1)
            found += sub
            refused += why
        elif entry.name.endswith(".ipynb"):
            if not stat.S_ISREG(st.st_mode):
                refused.append(f"{entry.name} is not a regular file (refused)")
            elif st.st_size > MAX_NOTEBOOK_BYTES:
                refused.append(f"{entry.name} is {st.st_size >> 20} MiB, more than "
                               f"{MAX_NOTEBOOK_BYTES >> 20} MiB (refused)")
            else:
                found.append(Path(entry.path))
    return found, refused


def read_notebook(path: Path):
    """Read a notebook without following links or blocking; ValueError with a reason."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise ValueError(f"{path.name} cannot be opened ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"{path.name} is not a regular file")
        raw = fh.read(MAX_NOTEBOOK_BYTES + 1)
    if len(raw) > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"{path.name} is larger than {MAX_NOTEBOOK_BYTES >> 20} MiB")
    try:
        text = raw.decode("utf-8")
        data = json.loads(text)
    except UnicodeDecodeError:
        raise ValueError(f"{path.name} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path.name} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise ValueError(f"{path.name} is nested too deeply") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise ValueError(f"{path.name} has no list of cells")
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises several kinds
        raise ValueError(f"{path.name} is not a readable notebook ({type(exc).__name__})") from None
    for cell in nb.cells:
        if not isinstance(cell, dict) or not isinstance(cell.get("source", ""), (str, list)):
            raise ValueError(f"{path.name} has a malformed cell")
        if not isinstance(cell.get("metadata", {}), dict):
            raise ValueError(f"{path.name} has a cell with malformed metadata")
    return nb


def locate(student_dir: Path, slug: str, expected_ids: set[str]):
    """Find and read a student's notebook for ``slug``: ``(path, notebook, note)``, or
    ``(None, None, reason)``.

    A notebook under another name (``02_numpy_lstm (1).ipynb``) is accepted when it is the
    only one holding most of the chapter's graded cells; the note says so. Raises
    ValueError when the notebook exists but cannot be read or is refused.
    """
    found, refused = scan(student_dir)
    exact = [p for p in found if p.name == f"{slug}.ipynb"]
    refused_exact = [r for r in refused if r.startswith(f"{slug}.ipynb ")]
    if refused_exact:
        raise ValueError(refused_exact[0])
    if exact:
        return exact[0], read_notebook(exact[0]), ""
    matches = []
    for p in found:
        try:
            nb = read_notebook(p)
        except ValueError:
            continue  # another chapter's broken notebook is not this chapter's problem
        if len(grade_ids(nb) & expected_ids) * 2 > len(expected_ids):
            matches.append((p, nb))
    if len(matches) == 1:
        rel = printable(str(matches[0][0].relative_to(student_dir)), 100)
        return matches[0][0], matches[0][1], f"graded {rel} (expected the name {slug}.ipynb)"
    names = ", ".join(printable(str(p.relative_to(student_dir)), 100) for p in found) or "no notebooks"
    if len(matches) > 1:
        return None, None, f"several notebooks look like {slug}: {names}; keep one"
    extra = f"; {'; '.join(refused)}" if refused else ""
    return None, None, f"no {slug}.ipynb (found: {names}){extra}"


def _lstat(path: Path):
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def layout_of(submissions: Path, students: list[Path], slugs: list[str]) -> str:
    """``nbgrader`` or ``folders``, by what the student folders hold: a student folder is
    nbgrader-like when it holds an assignment folder (a folder named after a chapter of this
    course, holding that chapter's notebook or nbgrader's ``timestamp.txt``), folders-like
    when it holds a notebook of its own. The layout of most student folders wins; when none
    tells (or as many say each), a folder named ``submitted`` is nbgrader's. Reads at most
    :data:`MAX_FILES` entries of a folder and follows no link."""
    nested = flat = 0
    for sdir in students:
        try:
            entries = sorted(os.scandir(sdir), key=lambda e: e.name)[:MAX_FILES]
        except OSError:
            continue
        is_nested = is_flat = False
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and entry.name.endswith(".ipynb"):
                is_flat = True
            elif stat.S_ISDIR(st.st_mode) and entry.name in slugs:
                try:
                    inside = [_lstat(Path(entry.path) / name) for name in (f"{entry.name}.ipynb", TIMESTAMP)]
                except OSError:
                    continue
                is_nested = is_nested or any(st2 is not None and stat.S_ISREG(st2.st_mode) for st2 in inside)
        nested += is_nested and not is_flat
        flat += is_flat and not is_nested
    if nested != flat:
        return "nbgrader" if nested > flat else "folders"
    return "nbgrader" if submissions.name == "submitted" else "folders"


def handed_in(students: list[Path], slugs: list[str], layout: str) -> list[str]:
    """The chapters of ``slugs`` that at least one student handed in, in their order."""
    if layout == "nbgrader":
        present = set()
        for sdir in students:
            for slug in slugs:
                try:
                    st = _lstat(sdir / slug)
                except OSError:
                    continue
                if st is not None:  # a link too: its student is told why it is refused
                    present.add(slug)
        return [s for s in slugs if s in present]
    names = {p.name for s in students for p in scan(s)[0]}
    return [s for s in slugs if f"{s}.ipynb" in names]


def parse_timestamp(text: str) -> datetime.datetime:
    """The UTC time (naive) of nbgrader's ``timestamp.txt``. nbgrader writes
    ``Exchange.timestamp_format`` (``%Y-%m-%d %H:%M:%S.%f %Z``) in ``Exchange.timezone``
    (UTC), e.g. ``2026-12-01 10:31:05.123456 UTC``; read as ``nbgrader.utils.parse_utc``
    reads it (a third word is the time zone), and also any ISO 8601 time. ValueError with
    the reason for anything else, an unknown time zone included (a time in an unknown zone
    is not silently taken as UTC)."""
    from dateutil import tz

    text = text.strip()
    if not text:
        raise ValueError("it is empty")
    if len(text) > 64 or not text.isprintable() or not re.search(r"\d{4}", text):
        raise ValueError("it is not a time")  # without a year, dateutil reads "5" as this month's 5th
    parts = text.split()
    zone = None
    if len(parts) == 3:
        if not _ZONE.fullmatch(parts[2]):
            raise ValueError(f"its time zone {printable(parts[2], 20)!r} is not one")
        if parts[2][0] in "+-":
            sign = -1 if parts[2][0] == "-" else 1
            zone = tz.tzoffset(None, sign * (int(parts[2][1:3]) * 3600 + int(parts[2][3:]) * 60))
        else:
            zone = tz.gettz(parts[2])
        if zone is None:
            raise ValueError(f"its time zone {parts[2]!r} is unknown")
        text = " ".join(parts[:2])
    elif len(parts) > 3:
        raise ValueError("it is not a time")
    if not _DATETIME.fullmatch(text):  # dateutil would fill in a missing day or time with today's
        raise ValueError("it is not a time")
    try:
        when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("it is not a time") from None
    if zone is not None:
        if when.tzinfo is not None:
            raise ValueError("it names two time zones")
        when = when.replace(tzinfo=zone)
    if when.tzinfo is not None:
        when = when.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return when


def read_timestamp(folder: Path) -> tuple[str, str]:
    """``(time, note)`` of nbgrader's ``timestamp.txt`` in an assignment folder: the time in
    UTC as ISO 8601 (``2026-12-01T10:31:05.123456Z``), or ``""`` and a note saying why it is
    unknown (missing, a link, too long, not a time). Never raises: a bad timestamp is noted."""
    path = folder / TIMESTAMP
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return "", f"no {TIMESTAMP}: the time of submission is unknown"
    except OSError as exc:
        why = "is a symbolic link (refused)" if exc.errno == errno.ELOOP else f"cannot be opened ({exc.strerror})"
        return "", f"{TIMESTAMP} {why}: the time of submission is unknown"
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "", f"{TIMESTAMP} is not a regular file: the time of submission is unknown"
        raw = fh.read(MAX_TIMESTAMP_BYTES + 1)
    if len(raw) > MAX_TIMESTAMP_BYTES:
        return "", f"{TIMESTAMP} is longer than {MAX_TIMESTAMP_BYTES} bytes: the time of submission is unknown"
    try:
        text = raw.decode("utf-8")
        when = parse_timestamp(text)
    except UnicodeDecodeError:
        return "", f"{TIMESTAMP} is not UTF-8 text: the time of submission is unknown"
    except ValueError as exc:
        return "", (f"{TIMESTAMP} ({printable(text.strip(), 40)!r}) is not nbgrader's timestamp: "
                    f"{exc}; the time of submission is unknown")
    return when.isoformat() + "Z", ""


def hand_in(student_dir: Path, slug: str, expected_ids: set[str], layout: str):
    """A student's notebook for ``slug`` in either layout: ``(path, notebook, note,
    submitted_at)``, or ``(None, None, reason, submitted_at)`` when there is none; ValueError
    when it exists but is refused or unreadable (as :func:`locate`).

    In nbgrader's layout the notebook is looked for in ``<student>/<slug>/`` only (another
    name inside that folder is accepted as :func:`locate` accepts it), the folder must not be
    a link, and ``submitted_at`` is read from its ``timestamp.txt`` (a missing or malformed
    one is noted, never fatal). In the folders layout ``submitted_at`` is ``""``."""
    if layout != "nbgrader":
        path, nb, note = locate(student_dir, slug, expected_ids)
        return path, nb, note, ""
    folder = student_dir / slug
    try:
        st = _lstat(folder)
    except OSError as exc:
        raise ValueError(f"the assignment folder {slug} cannot be read ({exc.strerror})") from None
    if st is None:
        try:
            others = sorted(e.name for e in os.scandir(student_dir) if not e.name.startswith("."))[:10]
        except OSError:
            others = []
        shown = ", ".join(display(n) for n in others) or "nothing"
        return None, None, (f"no {slug} folder (nbgrader's layout: <student>/{slug}/{slug}.ipynb; "
                            f"found: {shown})"), ""
    if stat.S_ISLNK(st.st_mode):
        raise ValueError(f"the assignment folder {slug} is a symbolic link (refused)")
    if not stat.S_ISDIR(st.st_mode):
        raise ValueError(f"{slug} is not a folder (nbgrader's layout: <student>/{slug}/{slug}.ipynb)")
    submitted_at, stamp_note = read_timestamp(folder)
    path, nb, note = locate(folder, slug, expected_ids)
    return path, nb, "; ".join(filter(None, [note, stamp_note])), submitted_at


def name_problem(name: str) -> str:
    """Why ``name`` cannot be a student id, or '' when it can.

    Any language's letters and digits are welcome (王小明, José, Ольга), with ``_ . @ + -``
    and single spaces between them; refused are names that are unsafe as a folder, a
    gradebook key or a line of the summary: control and format characters (newlines, ANSI
    escapes, bidirectional overrides), slashes and other punctuation, a first character that
    is not a letter or digit, and names longer than 100 characters.
    """
    if not name:
        return "the folder name is empty"
    if len(name) > MAX_NAME_CHARS or len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"the folder name is longer than {MAX_NAME_CHARS} characters"
    bad = sorted({ch for ch in name if not (unicodedata.category(ch)[0] in "LMN" or ch in NAME_PUNCTUATION)})
    if bad:
        shown = " ".join(printable(ch) if printable(ch) != ch else repr(ch) for ch in bad[:5])
        return f"the folder name holds characters a student id cannot have ({shown}); use letters, digits and _ . @ + -"
    if unicodedata.category(name[0])[0] not in "LN":
        return "a student id starts with a letter or a digit"
    if name != name.strip() or "  " in name:
        return "the folder name starts or ends with a space, or holds two in a row"
    return ""


def student_id(folder: Path) -> str:
    """The student id of a student folder: its name in Unicode normal form C (a folder
    zipped on a Mac spells é as e + a combining accent; both are the same student)."""
    return unicodedata.normalize("NFC", folder.name)


def students_of(submissions: Path, log) -> tuple[list[Path], list[tuple[str, str]]]:
    """Student folders, and ``(shown name, reason)`` for every entry that is refused (links,
    unsafe names). ValueError when ``submissions`` is not a folder."""
    if not submissions.is_dir():
        raise ValueError(f"{submissions} is not a folder of student folders")
    good, bad, seen = [], [], {}
    for entry in sorted(os.scandir(submissions), key=lambda e: e.name):
        if entry.name in SKIP_DIRS or entry.name.startswith("."):
            continue
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISREG(st.st_mode) and entry.name.endswith(".ipynb"):
            log(f"warning: {printable(str(submissions / entry.name))} is not inside a student folder; ignored")
            continue
        if not stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode):
            if stat.S_ISLNK(st.st_mode):
                bad.append((display(entry.name), "the student folder is a symbolic link (refused)"))
            continue
        why = name_problem(entry.name)
        if not why and student_id(Path(entry.path)) in seen:
            why = f"another folder has the same name, {seen[student_id(Path(entry.path))]!r}, spelt another way"
        if why:
            bad.append((display(entry.name), f"{why} (refused)"))
            continue
        seen[student_id(Path(entry.path))] = entry.name
        good.append(Path(entry.path))
    return good, bad


def printable(text: str, limit: int | None = None) -> str:
    """Student-controlled text made safe for a terminal, a CSV cell or a log line: letters of
    every script stay as they are; control and format characters (newlines, ANSI escapes,
    bidirectional overrides), unpaired surrogates and private-use characters are shown as
    escapes (``\\n``, ``\\x1b``, ``\\u202e``). ``limit`` cuts to that many characters."""
    out = []
    for ch in str(text):
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            out.append(ascii(ch)[1:-1])
        else:
            out.append(ch)
    s = "".join(out)
    return s if limit is None or len(s) <= limit else s[:limit - 1] + "…"


def display(name: str) -> str:
    """A student-controlled name made safe to print, at most 60 characters."""
    return printable(name, 60)
