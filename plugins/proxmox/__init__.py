"""The Proxmox VE plugin and its API simulator.

The hook implementations live in ``jarvis.plugins.proxmox.plugin`` (the module the core
registers); this package stays import-light so that ``python -m jarvis.plugins.proxmox.sim``
does not pull in the plugin and its HTTP client.
"""
