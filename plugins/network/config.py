"""Config of the network plugin: the hosts to watch and wake."""

from __future__ import annotations

from typing import Annotated

from jarvis.plugins.network.addr import normalize_mac, validate_address
from jarvis.plugins.network.reach import DEFAULT_TCP_PORTS
from jarvis.plugins.network.wol import DEFAULT_BROADCAST, DEFAULT_PORT
from pydantic import BaseModel, ConfigDict, Field, field_validator

Port = Annotated[int, Field(ge=1, le=65535)]
HostName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class HostConfig(BaseModel):
    """One machine: where it answers, and how to wake it.

    A host named like a Proxmox node gives the proxmox plugin a MAC to wake that node with
    (it calls ``network.wake`` with the node name).
    """

    model_config = ConfigDict(extra="forbid")

    address: str = Field(description="hostname or IP address to check reachability of")
    mac: str | None = Field(None, description="MAC address for Wake-on-LAN (any notation)")
    broadcast: str = Field(DEFAULT_BROADCAST, description="where magic packets are sent")
    wol_port: Port = DEFAULT_PORT
    tcp_ports: list[Port] | None = Field(
        None, description="ports tried when ICMP is unavailable or unanswered (else the default)"
    )

    @field_validator("address", "broadcast")
    @classmethod
    def _address(cls, value: str) -> str:
        return validate_address(value)

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: str | None) -> str | None:
        return None if value is None else normalize_mac(value)


class NetworkConfig(BaseModel):
    """The ``plugins.network`` block; empty means no hosts and an idle plugin."""

    model_config = ConfigDict(extra="forbid")

    hosts: dict[HostName, HostConfig] = Field(default_factory=dict)
    interval_s: float = Field(30.0, gt=0, description="seconds between reachability polls")
    ping_timeout_s: float = Field(2.0, gt=0, le=5, description="per echo / TCP connect / lookup")
    tcp_ports: list[Port] = Field(
        default_factory=lambda: list(DEFAULT_TCP_PORTS),
        description="default TCP fallback ports for hosts that do not list their own",
    )
    icmp: bool = Field(True, description="use ICMP echo when the OS permits it")
