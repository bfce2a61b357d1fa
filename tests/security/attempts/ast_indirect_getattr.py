# smolagents TestLocalPythonExecutorSecurity (..._through_indirect_attribute_access):
# getattr through map, filter and functools.partial, so no ast.Attribute names the module.
import random
for how in ("map", "filter", "partial", "getattr"):
    try:
        if how == "map":
            os_module = list(map(getattr, [random], ["_os"]))[0]
        elif how == "filter":
            import functools
            os_module = getattr(random, list(filter(functools.partial(getattr, random), ["_os"]))[0])
        elif how == "partial":
            import functools
            os_module = list(map(functools.partial(getattr, random), ["_os"]))[0]
        else:
            os_module = getattr(getattr(random, "_os"), "posix_spawn")
        os_module.posix_spawn(PYTHON, PAYLOAD_ARGV, {})
    except Exception as e:
        print(how, e)
