"""How long the README's first command takes: the quickstart's run and its report, as a newcomer runs them.

    python benchmarks/quickstart_time.py [--out reports/perf/quickstart.json]

Runs `hpo-bench run benchmarks/quickstart.toml` and `hpo-bench report` in a fresh temporary folder (no
store, no report to reuse), each as its own process as the README's command does, and writes the wall
times, the CPU times and the machine's load before and after. The installation step (pip) is left out:
it depends on the network and pip's cache, not on hpo-bench. State the README's time from an idle
machine: the load figures say whether it was.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILE = ROOT / "benchmarks" / "quickstart.toml"


def timed(argv: list[str], cwd: Path) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "reports" / "perf" / "quickstart.json"))
    args = parser.parse_args()
    hb = str(Path(sys.executable).with_name("hpo-bench"))
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        run = timed([hb, "run", str(FILE)], Path(tmp))
        report = timed([hb, "report", str(FILE)], Path(tmp))
    result = {"run": run, "report": report, "total_wall_s": round(run["wall_s"] + report["wall_s"], 1),
              "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()],
              "cpu_count": os.cpu_count(), "experiment_file": str(FILE.relative_to(ROOT))}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"quickstart: run {run['wall_s']} s, report {report['wall_s']} s (load before {load_before[0]:.2f}); "
          f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
