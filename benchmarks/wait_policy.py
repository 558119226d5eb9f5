"""OpenMP's wait policy when other work shares the cores: the README's Gatys pair in fresh processes, with
1 and 2 threads, idle threads as OpenMP's default has them (spin a while, then sleep), sleeping at once
(``OMP_WAIT_POLICY=PASSIVE``) or spinning a set number of turns first (GNU OpenMP's ``GOMP_SPINCOUNT``). Wall
and CPU seconds, and the load average before each run.

    python3 benchmarks/wait_policy.py [--repeats 2] [--threads 2] [--policy PASSIVE --policy spin=10000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = """
import sys, time, torch, stylecap
from stylecap.core.imageio import read_image, to_tensor
torch.set_num_threads(int(sys.argv[1]))
content, style = (to_tensor(read_image(f"examples/images/{n}.jpg").rgb) for n in ("chelsea", "swirls"))
gatys = stylecap.create("style", "gatys")
wall, cpu = time.perf_counter(), time.process_time()
gatys.stylize(content, [style])
print(f"{time.perf_counter() - wall:.1f} {time.process_time() - cpu:.1f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, action="append", help="default: 2 and 1")
    parser.add_argument("--policy", action="append", help="default, PASSIVE, ACTIVE or spin=N (default: the first two)")
    args = parser.parse_args()
    print("| threads | wait policy | load before | wall (s) | CPU (s) |\n|---|---|---|---|---|")
    for _ in range(args.repeats):
        for threads in args.threads or (2, 1):
            for policy in args.policy or ("default", "PASSIVE"):
                env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
                if policy.startswith("spin="):
                    env["GOMP_SPINCOUNT"] = policy.removeprefix("spin=")
                elif policy != "default":
                    env["OMP_WAIT_POLICY"] = policy
                load = os.getloadavg()[0]
                done = subprocess.run([sys.executable, "-c", RUN, str(threads)], cwd=ROOT, env=env,
                                      capture_output=True, text=True, check=True)  # fmt: skip
                wall, cpu = done.stdout.split()[-2:]
                print(f"| {threads} | {policy} | {load:.1f} | {wall} | {cpu} |", flush=True)


if __name__ == "__main__":
    main()
