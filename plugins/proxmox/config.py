"""The ``plugins.proxmox`` config block: endpoints, API token, TLS trust, timeouts, intervals."""

from __future__ import annotations

import re
from pathlib import Path

from jarvis.plugins.proxmox.client import Endpoint, normalize_fingerprint
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

_TOKEN_ID = re.compile(r"^[^@!\s]+@[^@!\s]+![A-Za-z][A-Za-z0-9._-]*$")


class Intervals(BaseModel):
    """How often each polling tier runs, in seconds."""

    model_config = ConfigDict(extra="forbid")

    fast_s: float = Field(10.0, gt=0, description="/cluster/resources + /cluster/status")
    node_s: float = Field(30.0, gt=0, description="/nodes/{node}/status per online node")
    storage_s: float = Field(300.0, gt=0, description="/nodes/{node}/storage per online node")
    backoff_max_s: float = Field(300.0, gt=0, description="longest wait between retries")


class ProxmoxConfig(BaseModel):
    """Settings of the Proxmox plugin; an empty block is valid and leaves the plugin idle."""

    model_config = ConfigDict(extra="forbid")

    endpoints: list[str] = Field(
        default_factory=list,
        description="API endpoints of one cluster (host, host:port or https://host:port), "
        "tried in order when one is down",
    )
    token_id: str | None = Field(None, description="API token id, 'user@realm!tokenname'")
    token_secret: SecretStr | None = None
    verify_ssl: bool = Field(True, description="verify the server certificate")
    ca_file: Path | None = Field(None, description="PEM bundle to trust (e.g. the cluster CA)")
    fingerprint: list[str] = Field(
        default_factory=list,
        description="pinned SHA-256 certificate fingerprint(s), colon hex as PVE shows them",
    )
    connect_timeout_s: float = Field(5.0, gt=0)
    timeout_s: float = Field(15.0, gt=0, description="read timeout of one API request")
    intervals: Intervals = Intervals()
    cluster_name: str | None = Field(None, description="override the name PVE reports")
    max_parallel: int = Field(8, ge=1, le=64, description="concurrent per-node requests")

    @field_validator("endpoints")
    @classmethod
    def _check_endpoints(cls, value: list[str]) -> list[str]:
        for item in value:
            Endpoint.parse(item)  # raises ValueError with a clear message
        return value

    @field_validator("token_id")
    @classmethod
    def _check_token_id(cls, value: str | None) -> str | None:
        if value is not None and not _TOKEN_ID.match(value):
            raise ValueError(
                "expected 'user@realm!tokenname' (e.g. 'root@pam!jarvis'), as shown in "
                "Datacenter > Permissions > API Tokens"
            )
        return value

    @field_validator("fingerprint", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        if isinstance(value, str):
            return [value]
        return value

    @field_validator("fingerprint")
    @classmethod
    def _check_fingerprint(cls, value: list[str]) -> list[str]:
        for item in value:
            normalize_fingerprint(item)  # raises ValueError with a clear message
        return value

    @field_validator("ca_file")
    @classmethod
    def _check_ca_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"CA file {str(value)!r} does not exist")
        return value

    @model_validator(mode="after")
    def _check_credentials(self) -> ProxmoxConfig:
        if self.endpoints and (self.token_id is None or self.token_secret is None):
            raise ValueError(
                "endpoints are set, so token_id and token_secret are required "
                "(create an API token in PVE; give token_secret as {'$env': 'PVE_TOKEN'})"
            )
        if self.fingerprint and self.ca_file is not None:
            raise ValueError("set either fingerprint (pinning) or ca_file, not both")
        return self
