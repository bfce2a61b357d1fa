# smolagents TestLocalPythonExecutorSecurity (test_vulnerability_via_importlib).
import importlib
importlib.import_module("os").posix_spawn(PYTHON, PAYLOAD_ARGV, {})
