"""Entry point of the engine child process (see ``vidembed.executors.child``)."""

import logging
import sys

from vidembed.executors.child import child_main

logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
child_main()
