"""The mock's tier-3 policy: its answer to each question the documents leave open.

Every field is one open point (docs/mock-server.md, "Reference policy"); its first value is the
reference answer, the others are answers the documents allow as well. The ``policy:`` section of
the configuration picks them, by a named variant, by single switches, or both::

    policy:
      variant: alternative      # one of VARIANTS (default: reference)
      unknown_user: empty       # then single switches over it

The variants exist so the suite can prove it never cries wolf: tiers 1-2 must pass against the
mock under every variant, and tier 3 must pass under the policy the mock has and fail under any
other (tests/contract_policy).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal, get_args, get_type_hints

__all__ = ["CHOICES", "REFERENCE", "VARIANTS", "Policy", "PolicyError", "parse_policy"]


class PolicyError(ValueError):
    """A ``policy:`` section that names an unknown key, variant or value."""


@dataclass(frozen=True)
class Policy:
    """One answer per open point; the defaults are the reference policy."""

    # an add for a target that already has a schedule: fails, or sets the date (an update)
    add_on_scheduled: Literal["fail", "replace"] = "fail"
    # an update of a target without a schedule: fails, or creates the schedule
    update_unscheduled: Literal["fail", "create"] = "fail"
    # a remove of a schedule that does not exist: succeeds as a no-op, or fails
    remove_unscheduled: Literal["succeed", "fail"] = "succeed"
    # an expiry date at or before now: the instruction fails, or it is taken (and expires)
    past_dates: Literal["refuse", "accept"] = "refuse"
    # the order of `items` in every listing
    items_order: Literal["ascending", "descending"] = "ascending"
    # what a PATCH answer's `items` holds: the touched schedules, every schedule, or none
    patch_items: Literal["touched", "all", "none"] = "touched"
    # the segment's or flag's own version when only schedules change
    resource_version: Literal["unchanged", "incremented"] = "unchanged"
    # a user key that nothing targets on the /users/... endpoints: 404, or 200 with no items
    unknown_user: Literal["not_found", "empty"] = "not_found"
    # the `domain-model` parameter's value: any case, or exactly as documented
    media_type_value: Literal["any_case", "exact"] = "any_case"
    # `errors` of a PATCH in which nothing failed: an empty list, or left out
    empty_errors: Literal["list", "omitted"] = "list"
    # the counts and indices of a PATCH answer: JSON integers, or integer-valued decimals (1.0)
    count_numbers: Literal["integer", "decimal"] = "integer"
    # the `_version` of a new schedule
    first_version: Literal[1, 0] = 1
    # a request with failing instructions: the others take effect, or none does (the reference
    # spec's general "semantic patches are not applied partially"); then every one is failed
    partial_failure: Literal["apply_successful", "atomic"] = "apply_successful"
    # an update with a stale version: that instruction fails, or the request gets 409
    version_mismatch: Literal["fail_instruction", "conflict"] = "fail_instruction"
    # a read-only token on a write: 403, or 401 (the reference's 401: "does not have permission
    # for this API call")
    write_denied: Literal["403", "401"] = "403"
    # the `code` of error answers: the reference spec's examples, or others (wire_policy.py)
    error_codes: Literal["reference", "alternative"] = "reference"

    @property
    def name(self) -> str:
        """The variant this policy is, or the switches where it differs from the reference."""
        for variant, policy in VARIANTS.items():
            if policy == self:
                return variant
        changed = {k: v for k, v in asdict(self).items() if getattr(REFERENCE, k) != v}
        return ", ".join(f"{k}={v}" for k, v in changed.items())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _choices() -> dict[str, tuple[Any, ...]]:
    hints = get_type_hints(Policy)
    return {f.name: get_args(hints[f.name]) for f in fields(Policy)}


CHOICES = _choices()
REFERENCE = Policy()
VARIANTS: dict[str, Policy] = {
    "reference": REFERENCE,
    # every open point flipped to its second allowed answer
    "alternative": Policy(**{name: values[1] for name, values in CHOICES.items()}),
    # where a point has a third answer, that one; the rest as the alternative
    "alternative-2": Policy(**{name: values[-1] for name, values in CHOICES.items()}),
}


def parse_policy(raw: Any, origin: str) -> Policy:
    """The ``policy:`` section, checked key by key; a problem names the key and the choices."""
    if raw is None:
        return REFERENCE
    if isinstance(raw, str):
        raw = {"variant": raw}
    if not isinstance(raw, dict):
        raise PolicyError(f"{origin}: policy must be a mapping (or the name of a variant)")
    variant = raw.get("variant", "reference")
    if variant not in VARIANTS:
        raise PolicyError(f"{origin}: policy.variant {variant!r} is not one of "
                          f"{', '.join(VARIANTS)}")
    switches = {}
    for key, value in raw.items():
        if key == "variant":
            continue
        if key not in CHOICES:
            raise PolicyError(f"{origin}: policy.{key} is not a policy switch; the switches are "
                              f"{', '.join(CHOICES)}")
        if value not in CHOICES[key] or isinstance(value, bool):
            raise PolicyError(f"{origin}: policy.{key} must be one of "
                              f"{', '.join(map(str, CHOICES[key]))}, not {value!r}")
        switches[key] = value
    return replace(VARIANTS[variant], **switches)
