"""rnn-course: the helper package behind the recurrent-neural-network course notebooks.

Importing `rnn_course` is cheap: it does not import Keras or TensorFlow. It does
install one import hook, `rnn_course.quiet_imports`: whenever TensorFlow is later
imported in this process (by the setup cell, by Keras under JAX, by a test cell),
what its C++ code writes to stderr at import is kept off stderr and kept for
`rnn-course doctor` (set `RNN_COURSE_QUIET_IMPORTS=0` to see it live). Each
submodule serves one concern:

- `rnn_course.corpora`: the bundled corpora and their splits
- `rnn_course.vocab`: the shared `Vocabulary`
- `rnn_course.windows`: language-model training windows (inputs, targets)
- `rnn_course.device`: backend and accelerator detection, distribution setup
- `rnn_course.quiet_imports`: TensorFlow's import-time C++ notices kept off stderr
- `rnn_course.notebook`: the setup every notebook's first cell runs (mode, seed, quiet logs)
- `rnn_course.plotting`: the course's figures
- `rnn_course.assignment`: generating student notebooks from `solutions/`
- `rnn_course.cli`: the `rnn-course` command
"""

__version__ = "0.1.0"

from rnn_course import quiet_imports as _quiet_imports  # noqa: E402: after the version, which it does not need

_quiet_imports.install()
