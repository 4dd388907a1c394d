"""Markets: rules, calendars, clearing and the simulated exchange."""
