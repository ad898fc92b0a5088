"""SSH plugin: commands, services, updates and PTYs on hosts (the Proxmox nodes) over SSH (hooks in plugin.py)."""
