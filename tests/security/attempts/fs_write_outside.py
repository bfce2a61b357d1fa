# Files: write outside the workspace, overwrite and delete the secrets, link and rename out of it.
import io
import os
for m in MARKER_PATHS:
    for how in ("io", "os", "symlink"):
        try:
            if how == "io":
                io.open(m, "w").write("escaped")
            elif how == "os":
                os.close(os.open(m, os.O_WRONLY | os.O_CREAT))
            else:
                os.symlink("/workspace", m)
        except Exception as e:
            print(how, m, e)
for p in SECRET_FILES:
    for how in ("append", "truncate", "chmod", "unlink", "rename"):
        try:
            if how == "append":
                io.open(p, "a").write("x")
            elif how == "truncate":
                os.truncate(p, 0)
            elif how == "chmod":
                os.chmod(p, 0o777)
            elif how == "unlink":
                os.unlink(p)
            else:
                os.rename(p, p + ".moved")
        except Exception as e:
            print(how, p, e)
try:
    io.open("escape-link", "w")
    os.link("escape-link", MARKER_PATHS[0])
except Exception as e:
    print("link", e)
