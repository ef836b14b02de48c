"""The wires the gateway speaks to its clients, one package each: each parses its wire
into the canonical request (``reelgate.domain.video``), calls the services, and writes
its answers and errors in its own shapes. A surface never imports the store or a
provider (import-linter)."""
