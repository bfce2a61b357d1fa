# Resource bomb: grow memory in 100 MB steps; past 8 GB the sandbox has no memory limit worth the name.
chunks = []
for i in range(80):
    chunks.append("x" * 10**8)
print(ESCAPED + "memory balloon reached 8 GB")
