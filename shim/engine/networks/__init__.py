"""Engine layer: networking, one room per concern (see service.py for the map)."""

from shim.engine.networks.facade import ContainerNetworking
from shim.engine.networks.ipam import default_pools
from shim.engine.networks.publish import validate_port_bindings
from shim.engine.networks.service import NetworkService
from shim.engine.validation.ports import parse_host_port, parse_port_key

__all__ = [
    "ContainerNetworking",
    "NetworkService",
    "default_pools",
    "parse_host_port",
    "parse_port_key",
    "validate_port_bindings",
]
