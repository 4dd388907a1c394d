"""OpenVPP: virtual power plant operations and trading center."""

__version__ = "0.5.0"
