"""The `swarm` command line (`swarm = "swarm.cli:main"`; `python -m swarm.cli` runs it too).

parser.py builds the parser and runs a command; each other module registers its commands on it
(`register(sub)`) and keeps them thin over the library; common.py is what they share. Imports run one
way: parser -> command modules -> common.
"""

from swarm.cli.parser import build_parser, main

__all__ = ["build_parser", "main"]
