"""A faithful Proxmox VE API simulator (HTTPS, API tokens, tasks, faults) for tests and demos.

    handle = await start_simulator(nodes=4, guests=12, seed=1)
    ... handle.url, handle.token_id, handle.token_secret, handle.ca_file ...
    await handle.stop()
"""

from .runner import ThreadedSimulator, start_simulator
from .server import SimHandle

__all__ = ["SimHandle", "ThreadedSimulator", "start_simulator"]
