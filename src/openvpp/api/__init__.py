"""HTTP API: app factory, middleware, error mapping, access policy, routes and schemas."""
