"""End-to-end simulation of the trading and dispatch loop on the simulated exchange, in
accelerated time against real historical prices."""
