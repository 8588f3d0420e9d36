"""`python -m caas_core.crd [--check] [--output-dir DIR]`: write or verify the generated CRDs."""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from caas_core.crd.render import GENERATE_COMMAND, check_crds, write_crds


def main(argv: Sequence[str] | None = None) -> int:
    """Write the CRDs (default) or, with --check, fail when the committed files are stale."""
    parser = argparse.ArgumentParser(prog=GENERATE_COMMAND, description=__doc__)
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path("crds"),
        help="directory holding the CRD files (default: ./crds)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if any generated file differs from the one on disk",
    )
    args = parser.parse_args(argv)
    directory: Path = args.output_dir
    if args.check:
        problems = check_crds(directory)
        for problem in problems:
            print(f"error: {problem}; run `{GENERATE_COMMAND}` and commit", file=sys.stderr)
        return 1 if problems else 0
    for path in write_crds(directory):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
