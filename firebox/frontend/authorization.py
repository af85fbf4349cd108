"""What a caller may do with the Lambda API: its key's policy, and for another principal's function, that
function's resource policy too.

Functions belong to the principal that created them (those made before keys existed, and the
administrator's, to the administrator). On its own functions a principal may do what its key's policy
allows. On another principal's function it needs both its key's policy and a statement of the function's
resource policy (AddPermission) naming it, the way AWS treats a call from another account; an explicit Deny
in either refuses. The administrator may do anything its policy allows, anywhere.
"""

from __future__ import annotations

from firebox.errors import AccessDenied, FireboxError
from firebox.frontend.authentication import ADMINISTRATOR, Caller
from firebox.frontend.names import split_function_name
from firebox.frontend.permissions import policy_document
from firebox.frontend.policies import Decision, parse_policy
from firebox.store import Arns, FunctionRegistry

# IAM action names that differ from their operation's name.
_ACTIONS = {"Invoke": "InvokeFunction"}


class Authorization:
    def __init__(self, registry: FunctionRegistry, arns: Arns) -> None:
        self._registry = registry
        self._arns = arns

    async def check(self, caller: Caller, operation: str, params: dict[str, object]) -> None:
        """Raise AccessDenied unless `caller` may run `operation` with `params`."""
        action = f"lambda:{_ACTIONS.get(operation, operation)}"
        function = params.get("FunctionName")
        if not isinstance(function, str):
            # Operations on a code signing configuration act on it; the others (ListFunctions, layers...) on "*".
            caller.require(action, _text(params.get("CodeSigningConfigArn")) or "*")
            return
        try:
            name, qualifier = split_function_name(function, _text(params.get("Qualifier")))
        except FireboxError:  # a malformed name: the operation itself says so, once allowed
            caller.require(action, self._arns.function("*"))
            return
        resource = self._arns.function(name, qualifier)
        if caller.is_administrator or caller.policy.decision(action, resource) is Decision.DENY:
            caller.require(action, resource)
            return
        owner = await self._owner(name)
        if owner is None or owner == caller.principal:
            caller.require(action, resource)
            return
        caller.require(action, resource)  # its own policy first, then the function's
        granted = await self._resource_policy_decision(name, action, resource, caller.arn)
        if granted is Decision.ALLOW:
            return
        why = (
            "with an explicit deny in a resource-based policy"
            if granted is Decision.DENY
            else (f"because no resource-based policy allows the {action} action")
        )
        raise AccessDenied(f"User: {caller.arn} is not authorized to perform: {action} on resource: {resource} {why}")

    async def _owner(self, name: str) -> str | None:
        """The function's owner; None when there is no such function (the operation then says so)."""
        try:
            record = await self._registry.get_function(name)
        except FireboxError:
            return None
        return record.owner or ADMINISTRATOR

    async def _resource_policy_decision(self, name: str, action: str, resource: str, caller_arn: str) -> Decision:
        record = await self._registry.resource_policy(name)
        if record is None:
            return Decision.NONE
        policy = parse_policy(policy_document([s.document for s in record.statements]), resource_policy=True)
        return policy.decision(action, resource, caller_arn)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
