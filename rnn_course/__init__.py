"""rnn-course: the helper package behind the recurrent-neural-network course notebooks.

Importing `rnn_course` is cheap: it does not import Keras or TensorFlow. Each
submodule serves one concern:

- `rnn_course.corpora`: the bundled corpora and their splits
- `rnn_course.vocab`: the shared `Vocabulary`
- `rnn_course.windows`: language-model training windows (inputs, targets)
- `rnn_course.device`: backend and accelerator detection, distribution setup
- `rnn_course.notebook`: the setup every notebook's first cell runs (mode, seed, quiet logs)
- `rnn_course.plotting`: the course's figures
- `rnn_course.assignment`: generating student notebooks from `solutions/`
- `rnn_course.cli`: the `rnn-course` command
"""

__version__ = "0.1.0"
