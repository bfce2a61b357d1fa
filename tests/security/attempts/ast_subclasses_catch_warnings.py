# smolagents TestLocalPythonExecutorSecurity (test_vulnerability_builtins_via_class_catch_warnings).
classes = {}.__class__.__base__.__subclasses__()
for cls in classes:
    if cls.__name__ == "catch_warnings":
        break
b = cls()._module.__builtins__
b["__import__"]("os").posix_spawn(PYTHON, PAYLOAD_ARGV, {})
