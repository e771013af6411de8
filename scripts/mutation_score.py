"""The mutation score from `mutmut results --all true` on stdin: killed / total per module, and
every mutant that was not killed, with the command that shows its diff. Exits 1 if any was not:
a surviving mutant is a change to a money rule that no test notices."""

from __future__ import annotations

import re
import sys
from collections import Counter

# A timeout is a mutant that made a test hang: the suite noticed it, so it counts as killed.
DETECTED = {"killed", "timeout", "caught by type check"}
# mutmut names a mutant `<module>.x_<function>__mutmut_<n>` or `<module>.xǁ<Class>ǁ<method>...`.
MODULE = re.compile(r"^(?P<module>.+?)\.x[_ǁ]")


def main() -> int:
    total: Counter[str] = Counter()
    killed: Counter[str] = Counter()
    missed: list[tuple[str, str]] = []
    for line in sys.stdin:
        name, sep, status = line.strip().rpartition(": ")
        match = MODULE.match(name)
        if not sep or match is None:
            continue
        module = match["module"]
        total[module] += 1
        if status in DETECTED:
            killed[module] += 1
        else:
            missed.append((name, status))
    if not total:
        print("no mutation results: run `mutmut run` first", file=sys.stderr)
        return 1
    width = max(map(len, total))
    for module in sorted(total):
        print(f"{module:<{width}}  {killed[module]:>4} / {total[module]:<4} killed")
    all_killed, all_total = sum(killed.values()), sum(total.values())
    print(
        f"{'total':<{width}}  {all_killed:>4} / {all_total:<4} killed "
        f"({100 * all_killed / all_total:.1f}%)"
    )
    for name, status in missed:
        print(f"  {status}: {name}   (mutmut show {name})")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
