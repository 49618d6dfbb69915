"""The grader's default limits (imported by the CLI without loading the grader)."""

#: Seconds one cell may run (the grader runs notebooks in FAST mode).
DEFAULT_CELL_TIMEOUT = 300
#: Seconds the whole notebook may run, kernel start-up and restarts included.
DEFAULT_TOTAL_TIMEOUT = 1200
#: The kernel's address-space limit (RLIMIT_AS) in MB. TensorFlow alone reserves
#: about 2.5 GB of address space, so this is well above the memory really used.
DEFAULT_MEMORY_MB = 8192
#: Modules re-imported fresh before every test cell.
DEFAULT_CHECK_MODULES = ("rnn_course.checks",)
