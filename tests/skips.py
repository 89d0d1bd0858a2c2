#!/usr/bin/env python3
"""Skipped tests are failures in disguise unless someone expected them. scripts/test.sh collects
every skip of every stage into one file ($HEARTH_SKIPS: stage, test, reason per line, tab
separated), lists them all at the end of the run, and fails the run on any skip whose reason no
pattern in tests/allowed-skips.txt allows.

  skips.py gtest STAGE BINARY RESULT_JSON   add the skips of a GoogleTest run (its --gtest_output
                                            JSON), with their messages (the skipped tests rerun)
  skips.py unittest STAGE [unittest args]   run Python unittest (discover ...), add its skips,
                                            exit with its status
  skips.py tap STAGE TAP_FILE               add the skips of a node --test TAP report
  skips.py report ALLOWED                   print the summary; exit 1 on unexpected skips
"""
import json
import os
import re
import subprocess
import sys
import unittest


def record(stage, test, reason):
    path = os.environ.get("HEARTH_SKIPS")
    if not path:
        return
    reason = " ".join(str(reason).split())  # one line
    with open(path, "a") as f:
        f.write(f"{stage}\t{test}\t{reason}\n")


def gtest(stage, binary, result_json):
    with open(result_json) as f:
        results = json.load(f)
    skipped = [f"{suite['name']}.{t['name']}" for suite in results.get("testsuites", [])
               for t in suite.get("testsuite", []) if t.get("result") == "SKIPPED"]
    if not skipped:
        return 0
    # GoogleTest 1.12's JSON has no skip messages: run just the skipped tests again for them.
    out = subprocess.run([binary, "--gtest_filter=" + ":".join(skipped)], capture_output=True, text=True,
                         env=os.environ).stdout
    # A skip prints "file:line: Skipped", its message, then "[  SKIPPED ] Suite.Test (N ms)"; what
    # the test printed before (logs) is not part of the message.
    messages = {}
    pending = None
    for line in out.splitlines():
        m = re.match(r"\[\s+SKIPPED\s+\] (\S+) \(", line)
        if m:
            messages[m.group(1)] = " ".join(pending or []).strip()
            pending = None
        elif line.startswith("[ RUN"):
            pending = None
        elif re.search(r": Skipped$", line):
            pending = []
        elif pending is not None and not line.startswith("["):
            pending.append(line)
    for name in skipped:
        record(stage, name, messages.get(name) or "(no message)")
    return 0


def run_unittest(stage, argv):
    program = unittest.main(module=None, argv=["skips.py"] + argv, exit=False)
    result = program.result
    for test, reason in result.skipped:
        record(stage, test.id(), reason)
    return 0 if result.wasSuccessful() else 1


def tap(stage, path):
    with open(path) as f:
        for line in f:
            m = re.match(r"\s*ok \d+ - (.*?) # SKIP ?(.*)$", line)
            if m:
                record(stage, m.group(1), m.group(2) or "(no reason)")
    return 0


def report(allowed_path):
    path = os.environ.get("HEARTH_SKIPS")
    rows = []
    if path and os.path.exists(path):
        with open(path) as f:
            rows = [line.rstrip("\n").split("\t", 2) for line in f if line.strip()]
    patterns = []
    with open(allowed_path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                patterns.append(re.compile(line))
    unexpected = 0
    print(f"skipped tests: {len(rows)}")
    for stage, test, reason in rows:
        ok = any(p.search(reason) for p in patterns)
        unexpected += 0 if ok else 1
        print(f"  {'expected  ' if ok else 'UNEXPECTED'} [{stage}] {test}: {reason}")
    if unexpected:
        print(f"{unexpected} unexpected skip(s): a skipped test hides a failure; fix the cause or, if the skip "
              f"is right on some machines, allow its reason in {allowed_path}")
        return 1
    return 0


def main(argv):
    if len(argv) >= 4 and argv[0] == "gtest":
        return gtest(argv[1], argv[2], argv[3])
    if len(argv) >= 2 and argv[0] == "unittest":
        return run_unittest(argv[1], argv[2:])
    if len(argv) == 3 and argv[0] == "tap":
        return tap(argv[1], argv[2])
    if len(argv) == 2 and argv[0] == "report":
        return report(argv[1])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
