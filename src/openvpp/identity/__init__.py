"""Identity and access: organizations, users, roles, tokens, API keys (pure + service layer)."""
