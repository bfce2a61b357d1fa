"""Ordinary code a model writes runs in the default sandbox: the standard library's harmless modules and
builtins are allowed, so a refusal means something, not a gap in the allowlist (issue 11, failure 11)."""

from __future__ import annotations

import pytest

from swarm.config import PythonSettings, SandboxSettings
from swarm.sandbox import Sandbox


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(SandboxSettings(pool_size=2, timeout_s=20.0), PythonSettings().authorized_imports) as sb:
        yield sb


@pytest.mark.parametrize("code, expected", [
    ("import hashlib\nhashlib.sha256(b'hello').hexdigest()[:8]", "2cf24dba"),
    ("def decimal_to_binary(n):\n    return bin(n)[2:]\ndecimal_to_binary(255)", "11111111"),
    ("from datetime import date\n(date(2024, 3, 1) - date(2024, 1, 15)).days", 46),
    ("import calendar\ncalendar.day_name[calendar.weekday(2000, 1, 1)]", "Saturday"),
    ("from fractions import Fraction\nstr(Fraction(1, 3) + Fraction(1, 6))", "1/2"),
    ("from typing import List\ndef f(xs: List[int]) -> int:\n    return sum(xs)\nf([1, 2])", 3),
    ("hex(255) + oct(8) + format(3.14159, '.2f')", "0xff0o103.14"),
    ("import functools, operator\nfunctools.reduce(operator.mul, range(1, 6))", 120),
    ("sorted(frozenset({3, 1, 2}))", [1, 2, 3]),
])
def test_ordinary_code_runs_with_the_default_allowlist(sandbox, code, expected):
    result = sandbox.run(code)

    assert result.ok, result.error
    assert result.output == expected


@pytest.mark.parametrize("code, refused", [
    ("import os\nos.listdir('/')", "Import of os is not allowed"),
    ("import subprocess", "Import of subprocess is not allowed"),
    ("import socket", "Import of socket is not allowed"),
    ("open('/etc/hostname').read()", "open"),
    ("eval('1+1')", "eval"),
])
def test_what_reaches_outside_the_process_stays_refused(sandbox, code, refused):
    result = sandbox.run(code)

    assert not result.ok
    assert refused in result.error


def test_a_long_loop_is_bounded_by_the_process_limits_not_by_the_interpreters_step_counter():
    # smolagents stops a while loop after a million iterations; OpenAI's own solution of a HumanEval
    # problem needs more. The rlimits and the timeout of the worker process are the real bounds.
    with Sandbox(SandboxSettings(pool_size=0, timeout_s=120.0, cpu_s=120), PythonSettings().authorized_imports) as sb:
        result = sb.run("i = 0\nwhile i < 1_000_050:\n    i += 1\ni")

    assert result.ok, result.error
    assert result.output == 1_000_050
