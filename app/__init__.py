"""The wiring: the one place that assembles the hub, the MQTT bridge, the dashboard and the demo.

``jarvis.core`` knows nothing of MQTT or the web; ``jarvis.mqtt`` and ``jarvis.web`` attach to a
hub. This package puts them together for the ``jarvis`` command (run, demo, call...).
"""
