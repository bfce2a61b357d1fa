# Protocol: the worker talks to the host over pipes the code can reach. Forge calls of tools the host
# never offered, junk, a forged result and a line longer than the host will read, on every open fd.
import os
messages = [
    b'{"tool_call": "open", "args": ["/etc/shadow"], "kwargs": {}}\n',
    b'{"tool_call": "__import__", "args": ["os"], "kwargs": {}}\n',
    b"not json at all\n",
    b'{"ok": true, "output": "forged", "logs": "", "error": null, "limit": null}\n',
]
for fd in (1, 2, 3, 4, 5):
    for message in messages:
        try:
            os.write(fd, message)
        except Exception as e:
            print(fd, e)
for fd in (1, 3, 4):
    try:
        os.write(fd, b"{" + b"x" * (1 << 24))
    except Exception as e:
        print(fd, e)
