# smolagents TestLocalPythonExecutorSecurity (test_vulnerability_via_submodules): random._os.
import random
try:
    random._os.posix_spawn(PYTHON, PAYLOAD_ARGV, {})
except Exception as e:
    print("random._os:", e)
random.__dict__["_os"].posix_spawn(PYTHON, PAYLOAD_ARGV, {})
