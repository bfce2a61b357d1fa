# smolagents TestLocalPythonExecutorSecurity (test_vulnerability_via_dunder_access, _indirect_access)
# and __getattribute__ chains: dunder names as strings, never as ast.Attribute.
for how in ("getattribute", "getattr", "object"):
    try:
        if how == "getattribute":
            base = "".__getattribute__("__class__").__getattribute__(str, "__base__")
        elif how == "getattr":
            base = getattr(getattr((), "__class__"), "__base__")
        else:
            base = type.__getattribute__(str, "__base__")
        subs = type.__getattribute__(base, "__subclasses__")()
        popen = [c for c in subs if "Popen" in str(c)][0]
        popen(PAYLOAD_ARGV).wait()
    except Exception as e:
        print(how, e)
