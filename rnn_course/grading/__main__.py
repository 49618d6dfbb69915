"""`python -m rnn_course.grading grade ...` (the grading commands on their own)."""

import sys

from rnn_course.grading.cli import main

sys.exit(main())
