# smolagents TestLocalPythonExecutorSecurity (test_vulnerability_via_sys, _builtins_via_sys):
# reach os through sys.modules and through the builtins of the current frame.
import sys
try:
    sys.modules["os"].posix_spawn(PYTHON, PAYLOAD_ARGV, {})
except Exception as e:
    print("sys.modules:", e)
b = sys._getframe().f_builtins
os_module = b["__import__"]("os")
print(os_module.popen(PAYLOAD_SH).read())
