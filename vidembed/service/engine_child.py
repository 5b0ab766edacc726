"""Entry point of the engine child process (see ``vidembed.service.runner``)."""

import logging
import sys

from vidembed.service.runner import child_main

logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
child_main()
