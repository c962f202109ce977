"""The mutation check: switches on each planted bug of mutations.py in turn and runs the emulated
matrix (cases.py) against it; every bug must make a case fail (a mismatch, or an emulator error
such as a trap or a shuffle naming an exited lane).

    cd tests && python -m cuda_emulation.mutation_check         # stops at the first case catching each bug
    cd tests && python -m cuda_emulation.mutation_check --all   # every case against every bug (the table)

Prints one JSON object: bug number -> name, and the cases that caught it. Exit status 1 if a bug
went uncaught. Run in its own process by tests/test_cuda_emulation.py: a planted bug may write
outside a tensor, which must not corrupt the test process.
"""
import argparse
import json
import sys

from . import build
from .cases import CASES, ORDERS, run_case
from .mutations import MUTATIONS


def catches(emulation, case, order):
    """The failure ``case`` shows in ``order`` with the current bug (None: it passes)."""
    try:
        run_case(emulation, case, order)
    except (AssertionError, RuntimeError) as failure:
        return str(failure).splitlines()[0][:200]
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--all', action='store_true', help='run every case against every bug')
    args = parser.parse_args()
    emulation = build.load()
    results = {}
    for number, mutation in enumerate(MUTATIONS, start=1):
        emulation.set_mutation(number)
        caught = {}
        try:
            for case in CASES:
                for order in ORDERS:
                    failure = catches(emulation, case, order)
                    if failure:
                        caught[f'{case.id} [{order}]'] = failure
                if caught and not args.all:
                    break
        finally:
            emulation.set_mutation(0)
        results[number] = {'name': mutation.name, 'caught_by': caught}
    print(json.dumps(results, indent=1))
    return 0 if all(r['caught_by'] for r in results.values()) else 1


if __name__ == '__main__':
    sys.exit(main())
