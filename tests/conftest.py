"""Suite-wide settings: pytest-timeout's per-test limit follows SWARM_TEST_TIMEOUT_SCALE like every other hang limit."""

from __future__ import annotations

import os

import pytest

from timeouts import SCALE_ENV, timeout_scale


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # Before pytest-timeout reads its settings: the ini (or PYTEST_TIMEOUT) limit, scaled. An explicit
    # --timeout is taken as given; so is the value xdist hands its workers (already scaled here).
    try:
        scale = timeout_scale()
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    if not config.pluginmanager.hasplugin("timeout") or config.getoption("timeout", None) is not None:
        return
    base = os.environ.get("PYTEST_TIMEOUT") or config.getini("timeout")
    if base:
        config.option.timeout = float(base) * scale


def pytest_report_header(config):
    if (scale := timeout_scale()) != 1:
        return f"hang limits scaled x{scale:g} ({SCALE_ENV})"
