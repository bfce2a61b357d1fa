# Resource bomb: 10**10**8, a single operation that takes minutes of CPU.
x = 10**10**8
