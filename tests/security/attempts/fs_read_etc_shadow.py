# Files: the host's password hashes.
import io
try:
    text = io.open("/etc/shadow").read()
    print(ESCAPED + "read /etc/shadow: " + text[:80])
except Exception as e:
    print(e)
