"""Dispatch: the awarded VPP schedule turned into per-resource setpoints, the device-gateway
contract, the device-side fail-safe, the in-process device simulator and the MQTT gateway."""
