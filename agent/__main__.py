"""`python -m agent`: the same as `gamefleet agent run`."""

from __future__ import annotations

import argparse

from agent import run


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m agent", description=run.__doc__)
    run.add_agent_flags(parser)
    run.run(parser.parse_args())


if __name__ == "__main__":
    main()
