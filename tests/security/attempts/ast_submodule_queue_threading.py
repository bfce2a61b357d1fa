# smolagents TestLocalPythonExecutorSecurity (test_vulnerability_via_submodules):
# queue.threading._os and queue.threading._sys.modules["os"] (queue is a base module of smolagents).
import queue
try:
    queue.threading._os.posix_spawn(PYTHON, PAYLOAD_ARGV, {})
except Exception as e:
    print("queue.threading._os:", e)
queue.threading._sys.modules["os"].posix_spawn(PYTHON, PAYLOAD_ARGV, {})
