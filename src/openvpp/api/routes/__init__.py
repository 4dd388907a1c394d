"""Route modules, one per area; each only parses, calls a service and maps the result."""
