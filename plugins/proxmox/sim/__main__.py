"""`python -m jarvis.plugins.proxmox.sim` runs the simulator CLI."""

import sys

from .cli import main

sys.exit(main())
