"""Workflows: definitions, the engine, the runner, triggers and the run log.
Import from the submodules (`service.Workflows`, `definition`, `builder`...)."""
