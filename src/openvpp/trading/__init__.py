"""Trading: the order state machine, pre-trade risk and the kill switch, order management
against venues, and automatic bidding."""
