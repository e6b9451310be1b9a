"""Developer tool: run one chapter's reference, blank notebook, planted bugs and other correct
styles through the sandbox and the trusted judge, and print every verdict.

    .venv/bin/python tests/support/chapter_check.py 02_numpy_lstm [--no-sandbox] [--workers 2]

What must hold: the reference passes every test, the blank notebook fails every test, each
planted bug fails the test it names, each correct style passes every test.
"""
from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")

from lstmbook.instructor import sources  # noqa: E402
from lstmbook.instructor.grader import sandbox, testmodel, verdicts  # noqa: E402
from lstmbook import data as lbdata  # noqa: E402
from course import planted  # noqa: E402
from submissions import chapter, submission  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("slug")
    ap.add_argument("--no-sandbox", action="store_true")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--only", nargs="*", help="names of bugs/good variants to run")
    args = ap.parse_args()
    m = planted(args.slug)
    src = sources.source_notebook(sources.repo_root() / "solutions" / f"{args.slug}.md")
    checks = testmodel.checks(src)
    cases = {"reference": (testmodel.reference_notebook(src), None),
             "blank": (chapter(args.slug), "ALL")}
    for name, bug in m.BUGS.items():
        if not args.only or name in args.only:
            cases[f"bug: {name}"] = (submission(args.slug, bug.replacement(args.slug)), bug.test)
    for name, cells in getattr(m, "GOOD", {}).items():
        if not args.only or name in args.only:
            cases[f"good: {name}"] = (submission(args.slug, cells), None)
    data_dir = str(lbdata.data_dir()) if lbdata.data_dir().is_dir() else None
    manifest = str(lbdata.manifest_path())

    def run(item):
        name, (nb, _) = item
        job = {"notebook": nbformat.writes(testmodel.grading_notebook(nb, src)), "checks": checks,
               "sandbox": not args.no_sandbox, "data_dir": data_dir, "manifest": manifest}
        return name, sandbox.run_job(job)

    with ThreadPoolExecutor(args.workers) as pool:
        results = dict(pool.map(run, cases.items()))
    ref = results["reference"]
    if not ref["ok"]:
        print("REFERENCE FAILED TO RUN:", ref["reason"], ref["log"][-3000:])
        return 1
    ref_records = ref["result"]["records"]
    bad = 0
    for name, (_, expect) in cases.items():
        r = results[name]
        if not r["ok"]:
            print(f"{name}: NO RESULT ({r['reason']})")
            bad += 1
            continue
        res = r["result"]
        failed, msgs = [], {}
        for test, _ in checks:
            if test not in ref_records:
                print(f"  reference recorded nothing for {test}: {ref['result']['check_errors'].get(test)}")
                bad += 1
                continue
            ok, msg = verdicts.judge(ref_records[test], res["records"].get(test),
                                      res["check_errors"].get(test, ""))
            if not ok:
                failed.append(test)
                msgs[test] = msg
        if expect is None:
            good = not failed
        elif expect == "ALL":
            good = set(failed) == {t for t, _ in checks}
        else:
            good = expect in failed
        bad += not good
        print(f"{'ok ' if good else 'BAD'} {name} ({r['seconds']:.0f} s): failed {failed}"
              + (f" expected {expect}" if expect else ""))
        if not good:
            for t, msg in msgs.items():
                print(f"      {t}: {msg}")
            errs = {k: v for k, v in res["check_errors"].items() if v}
            if errs:
                print(f"      check errors: {errs}")
    print(f"{len(cases) - bad} ok, {bad} bad")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
