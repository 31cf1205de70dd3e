"""Contract-test suite: proves a server honours the expiring-targets contract.

Runs against the generated app with the mock backend in-process (default), the mock server as a
real process, or any live base URL. Tier 1 (schema) is Schemathesis; tier 2 (documented
semantics) and the stateful run are Hypothesis with the checks in `checks.py`; tier 3 (the mock's
own policy) runs only against the kit's mock.
"""
