"""How faithfully the kit's mock answers like a given server: the same seeded plan against both,
every difference classified (a contract violation on one side, or a reading of what the
documents leave open, with the mock policy setting that reproduces it), and a fidelity figure
per operation and overall. `python -m fidelity --base-url URL` (docs/proxy.md).
"""
