"""Operations records: system alerts, operation logs and performance metrics."""
