# smolagents TestLocalPythonExecutorSecurity (test_vulnerability_load_module_via_builtin_importer).
classes = {}.__class__.__base__.__subclasses__()
for cls in classes:
    if cls.__name__ == "BuiltinImporter":
        break
os_module = cls().load_module("posix")
os_module.posix_spawn(PYTHON, PAYLOAD_ARGV, {})
