"""Network plugin: Wake-on-LAN and host reachability (hooks in plugin.py)."""
