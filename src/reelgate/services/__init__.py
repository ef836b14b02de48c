"""Use cases: submit, track, look up and deliver tasks. They depend on ports, not adapters."""
