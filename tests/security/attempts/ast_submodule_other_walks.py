# smolagents TestLocalPythonExecutorSecurity (test_vulnerability_via_submodules): doctest.inspect.os,
# asyncio.base_events.events.subprocess, warnings.sys; and time/stat/json, which are allowed by default.
for walk in ("doctest", "asyncio", "warnings", "json", "re", "collections", "datetime"):
    try:
        if walk == "doctest":
            import doctest
            doctest.inspect.os.posix_spawn(PYTHON, PAYLOAD_ARGV, {})
        elif walk == "asyncio":
            import asyncio
            asyncio.base_events.events.subprocess.run(PAYLOAD_ARGV)
        elif walk == "warnings":
            import warnings
            warnings.sys.modules["os"].posix_spawn(PYTHON, PAYLOAD_ARGV, {})
        elif walk == "json":
            import json
            json.decoder.re.sre_compile  # a walk that is allowed; what matters is reaching os
            json.codecs.sys.modules["os"].posix_spawn(PYTHON, PAYLOAD_ARGV, {})
        elif walk == "re":
            import re
            re.enum.sys.modules["os"].posix_spawn(PYTHON, PAYLOAD_ARGV, {})
        elif walk == "collections":
            import collections
            collections._sys.modules["os"].posix_spawn(PYTHON, PAYLOAD_ARGV, {})
        elif walk == "datetime":
            import datetime
            datetime.sys.modules["os"].posix_spawn(PYTHON, PAYLOAD_ARGV, {})
    except Exception as e:
        print(walk, e)
