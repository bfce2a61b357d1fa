# smolagents TestLocalPythonExecutorSecurity (test_vulnerability_import, _dangerous_functions):
# import os, then every way os offers to run the payload.
import os
try:
    print(os.popen(PAYLOAD_SH).read())
except Exception as e:
    print("popen:", e)
try:
    os.system(PAYLOAD_SH)
except Exception as e:
    print("system:", e)
pid = os.posix_spawn(PYTHON, PAYLOAD_ARGV, {})
os.waitpid(pid, 0)
