"""A validating reverse proxy for real traffic to the expiring-targets API.

Put it between a team's own client and a server (staging, the kit's mock, anything that speaks
the API): it forwards every request and answer unchanged and judges each exchange, and each
sequence of exchanges, by tiers 1-2 of the contract, driven by the operation model in
`generated.operations`. `python -m proxy` serves it; `python -m proxy.replay` sends a recorded
HAR file again and judges the answers the same way (docs/proxy.md).
"""
