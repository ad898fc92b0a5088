"""The fields many kinds share, described once: units, Home Assistant classes and deadbands.

A kind lists these next to its own fields (``fields.CPU_PCT``), so ``cpu_pct`` means the same,
has the same unit and the same deadband wherever it is published. The deadbands of these
fields also apply to state no kind describes (a third-party plugin's ad-hoc entities).
"""

from __future__ import annotations

from jarvis.core.entities import AS_OF, STALE, StateField  # noqa: F401 - AS_OF, STALE re-exported

CPU_PCT = StateField(name="cpu_pct", type="number", unit="%", label="CPU", deadband=2.0,
                     description="CPU usage in percent of the cores available to it",
                     state_class="measurement", ha="sensor", icon="mdi:cpu-64-bit", summary=True)
CPU_CORES = StateField(name="cpu_cores", type="integer", label="cores", description="CPU cores (or vCPUs)")
MEM_USED = StateField(name="mem_used", type="integer", unit="B", label="memory", relative_deadband=0.02,
                      description="memory in use, bytes", device_class="data_size",
                      state_class="measurement", ha="sensor", summary=True)
MEM_TOTAL = StateField(name="mem_total", type="integer", unit="B", label="memory size",
                       description="memory available, bytes", device_class="data_size")
DISK_USED = StateField(name="disk_used", type="integer", unit="B", label="disk", relative_deadband=0.01,
                       description="disk space in use, bytes", device_class="data_size",
                       state_class="measurement", ha="sensor")
DISK_TOTAL = StateField(name="disk_total", type="integer", unit="B", label="disk size",
                        description="disk space available, bytes", device_class="data_size")
UPTIME_S = StateField(name="uptime_s", type="integer", unit="s", label="uptime", deadband=900.0,
                      description="seconds since it started (republished only every 15 minutes)",
                      device_class="duration", state_class="measurement", ha="sensor")
LOAD = StateField(name="load", type="array", label="load", deadband=0.1,
                  description="load averages over 1, 5 and 15 minutes")
TEMPERATURE_C = StateField(name="temperature_c", type="number", unit="°C", label="temperature", deadband=1.0,
                           description="temperature in degrees Celsius, when known",
                           device_class="temperature", state_class="measurement", ha="sensor")
USED = StateField(name="used", type="integer", unit="B", label="used", relative_deadband=0.005,
                  description="space in use, bytes", device_class="data_size", state_class="measurement",
                  ha="sensor")
USED_PCT = StateField(name="used_pct", type="number", unit="%", label="used", deadband=0.5,
                      description="space in use, percent of the total", state_class="measurement",
                      ha="sensor", summary=True)
NETIN = StateField(name="netin", type="integer", unit="B", label="network in", relative_deadband=0.10,
                   description="bytes received since start", device_class="data_size",
                   state_class="total_increasing", ha="sensor")
NETOUT = StateField(name="netout", type="integer", unit="B", label="network out", relative_deadband=0.10,
                    description="bytes sent since start", device_class="data_size",
                    state_class="total_increasing", ha="sensor")
RTT_MS = StateField(name="rtt_ms", type="number", unit="ms", label="round trip", deadband=5.0,
                    description="round-trip time of the last probe, milliseconds",
                    device_class="duration", state_class="measurement", ha="sensor")

SHARED: tuple[StateField, ...] = (
    CPU_PCT, CPU_CORES, MEM_USED, MEM_TOTAL, DISK_USED, DISK_TOTAL, UPTIME_S, LOAD, TEMPERATURE_C,
    USED, USED_PCT, NETIN, NETOUT, RTT_MS,
)
"""Every shared field; their deadbands are the publisher's defaults."""
