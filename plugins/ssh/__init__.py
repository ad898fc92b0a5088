"""SSH plugin: commands, services, updates and PTYs on hosts (the Proxmox nodes) over SSH."""

from jarvis.plugins.ssh.plugin import on_start, on_stop, register_config, register_tools

__all__ = ["on_start", "on_stop", "register_config", "register_tools"]
