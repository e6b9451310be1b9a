"""The executed notebook as nbgrader's Formgrader shows it to the instructor, made safe to
open in a browser."""
from __future__ import annotations

import nbformat

from .testmodel import nbgrader_meta

SAFE_MIME = ("text/plain", "image/png")


def for_formgrader(executed, src):
    """``executed`` for the Formgrader: the official nbgrader metadata (what the student's
    metadata claims is ignored), outputs reduced to text and PNG images (no HTML or
    JavaScript a student could plant), HTML in markdown shown as text, output size bounded."""
    meta = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"] for c in src.cells
            if "nbgrader" in c.metadata}
    for cell in executed.cells:
        gid = nbgrader_meta(cell).get("grade_id")
        cell.metadata = {}
        if gid in meta:
            cell.metadata["nbgrader"] = dict(meta[gid])
        cell.pop("attachments", None)
        if cell.cell_type == "markdown":
            cell.source = cell.source.replace("<", "&lt;")
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.get("outputs", [])[:50]:
            kind = out.get("output_type")
            if kind == "stream":
                outputs.append(nbformat.v4.new_output("stream", name=str(out.get("name", "stdout"))[:6],
                                                      text=str(out.get("text", ""))[:20000]))
            elif kind in ("display_data", "execute_result"):
                data = {k: v for k, v in out.get("data", {}).items()
                        if k in SAFE_MIME and isinstance(v, (str, list))}
                if data:
                    outputs.append(nbformat.v4.new_output("display_data", data=data))
            elif kind == "error":
                outputs.append(nbformat.v4.new_output(
                    "error", ename=str(out.get("ename", ""))[:200], evalue=str(out.get("evalue", ""))[:2000],
                    traceback=[str(t)[:2000] for t in out.get("traceback", [])[:30]]))
        cell.outputs = outputs
    executed.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}
    return executed
