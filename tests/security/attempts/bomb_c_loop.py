# Resource bomb: one C call that runs for hours and never reaches the interpreter's operation count.
sum(range(10**15))
