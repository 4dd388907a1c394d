"""Durable jobs for long work: model, runner and the registry of job kinds."""
