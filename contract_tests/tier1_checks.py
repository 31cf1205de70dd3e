"""Tier 1's Schemathesis checks, and their names: a tier-1 failure carries its check's name as
its rule (report/failures.py), so these are the tier-1 rules a known-deviations file may name."""

from __future__ import annotations

from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

__all__ = ["CHECK_NAMES", "SCHEMA_CHECKS", "ignored_auth"]

# every check but `ignored_auth`, which the schema test wraps (its probes obey the network)
SCHEMA_CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    positive_data_acceptance,
)
CHECK_NAMES = tuple(check.__name__ for check in (*SCHEMA_CHECKS, ignored_auth))
