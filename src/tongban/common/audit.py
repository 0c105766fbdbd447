"""Write audit rows. Call inside the transaction of the change so both commit or neither."""

from __future__ import annotations

from typing import Any

from tongban.common.models import AuditEvent
from tongban.common.observability import request_id_var


def audit_record(
    *,
    actor: Any,
    action: str,
    object_type: str,
    object_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
) -> AuditEvent:
    person = actor if getattr(actor, "pk", None) else None
    label = getattr(actor, "username", None) or "system"
    return AuditEvent.objects.create(
        actor=person,
        actor_label=label,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=before,
        after=after,
        reason=reason[:500],
        request_id=request_id_var.get(),
    )


def diff(before: dict[str, Any] | None, after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Reduce two snapshots to the fields that changed, so an audit row reads as the change itself."""
    if before is None:
        return {}, after
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    return {k: before.get(k) for k in changed}, {k: after.get(k) for k in changed}
