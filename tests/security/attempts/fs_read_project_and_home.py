# Files: the project folder, the home folder and ~/.ssh of the host.
import io
import os
for folder in (PROJECT_DIR + "/tests/security", PROJECT_DIR + "/tests", HOME_DIR, HOME_DIR + "/.ssh"):
    try:
        names = os.listdir(folder)
        # the runtime may live under the home folder (pyenv); the canaries must not be seen
        if [n for n in names if "canary" in n or "marker" in n]:
            print(ESCAPED + "listed " + folder + ": " + str(names[:20]))
        for name in names:
            try:
                print(io.open(folder + "/" + name).read()[:4000])
            except Exception as e:
                print(name, e)
    except Exception as e:
        print(folder, e)
for p in ("/.ssh/id_rsa", "/.ssh/id_ed25519", "/.ssh/authorized_keys", "/.bash_history"):
    try:
        print(ESCAPED + "read " + p + ": " + io.open(HOME_DIR + p).read()[:80])
    except Exception as e:
        print(p, e)
