"""A hold on dosing in words, for the live page's banner, the dose form's refusal and the central station's
tile: ``DOSING BLOCKED: psychosis (protocol kap-iv)`` and what lifts it."""

from __future__ import annotations

from monitor.rules.dosing import BLOCKED, CLEAR, GATED, Decision
from monitor.rules.plan import BLOCK, Finding, Plan

HEADS = {BLOCKED: "DOSING BLOCKED", GATED: "DOSING ON HOLD"}


def lead(decision: Decision) -> Finding:
    """The finding the banner names: the first block, else the first finding (as ``Decision.headline``)."""
    return next((f for f in decision.findings if f.action == BLOCK), decision.findings[0])


def short(plan: Plan, finding: Finding) -> str:
    """A finding in a few words: a screening item by its name (``psychosis``, ``hepatic impairment severe``) or
    its unanswered question (``hepatic impairment not answered``); a pre-dose gate by its message up to the
    colon and the readings it was judged on (``Resting BP at or above 180/100 (latest BP 186/104)``); anything
    else by its text up to the first colon."""
    item = next((i for i in plan.protocol.screening if i.id == finding.id), None)
    if item is not None and plan.screening.get(item.key) is None:
        return f"{item.key.replace('_', ' ')} not answered"
    if item is not None:
        return item.id.replace("_", " ")
    gate = next((g for g in plan.protocol.gates if g.id == finding.id), None)
    if gate is not None and finding.text.startswith(gate.message):
        return gate.message.split(":")[0] + finding.text.removeprefix(gate.message)
    return finding.text.split(":")[0]


def lifted_by(plan: Plan, finding: Finding) -> str:
    """What lifts ``finding``, in a few words."""
    if not finding.overridable:
        return "holds while the alarm's condition lasts"
    if finding.id == "predose_bp_missing":
        return "take a pre-dose BP"
    item = next((i for i in plan.protocol.screening if i.id == finding.id), None)
    if item is not None and plan.screening.get(item.key) is None:
        return "answer the screening question (side panel)"
    if item is not None and item.lifted_by:
        return "attest it in the screening (side panel) or physician override"
    gate = next((g for g in plan.protocol.gates if g.id == finding.id), None)
    if gate is not None and gate.recheck_after_min:
        return f"recheck after {gate.recheck_after_min:g} min rest, or physician override"
    return "physician override (side panel)"


def headline(decision: Decision, plan: Plan) -> str:
    """``DOSING BLOCKED: psychosis (protocol kap-iv)``, ``(+1 more)`` when more findings are open."""
    if decision.state == CLEAR:
        return decision.headline()
    more = f" (+{len(decision.findings) - 1} more)" if len(decision.findings) > 1 else ""
    return f"{HEADS[decision.state]}: {short(plan, lead(decision))}{more} (protocol {plan.name})"


def hold_text(decision: Decision, plan: Plan) -> str:
    """The banner in one line, with what lifts the hold; the dose form refuses with the same words."""
    if decision.state == CLEAR:
        return decision.headline()
    return f"{headline(decision, plan)} \u2014 {lifted_by(plan, lead(decision))}"
