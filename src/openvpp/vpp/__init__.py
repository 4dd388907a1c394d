"""VPP definitions: members, parameter history, grid nodes, conflict detection."""
