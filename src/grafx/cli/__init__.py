"""Command-line front end: ``grafx demo|fit|render|draw|info``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="grafx", description="Audio processing graphs in PyTorch.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the main job on built-in example data")
    demo.add_argument("--out", default="demo-output", help="output folder")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from grafx.data import NodeConfigs

        print(NodeConfigs(["eq", "compressor", "reverb"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
