"""Helpdesk webhook shapes for tools/traffic --format.

Each format turns the SPEC §2 events of the simulation into the JSON body
that helpdesk's webhook would send for the same moment, as the board's
mapping presets (mappings/<name>.conf) expect it; the comment at the top of
each preset shows the body it is written for. A webhook repeats the whole
ticket every time, so a Webhook object remembers each ticket from the
events it has seen.

What a helpdesk does not send as a webhook has no body (None): its own SLA
warnings and breaches, incidents, heartbeats. Nor do these bodies carry due
times, except Jira's SLA fields: the board's [sla] policy sets them.
"""
from datetime import datetime

# channel -> (Zendesk "via" of a public post, of a private message)
ZENDESK_VIA = {
    "facebook": ("Facebook Post", "Facebook Private Message"),
    "twitter": ("Twitter", "Twitter DM"),
    "instagram": ("Instagram Direct", "Instagram Direct"),
    "vk": ("VK", "VK"),                     # no Zendesk channel: the board shows "other"
    "telegram": ("Telegram", "Telegram"),
    "whatsapp": ("WhatsApp", "WhatsApp"),
    "email": ("Email", "Email"),
    "chat": ("Chat", "Chat"),
    "phone": ("Voice", "Voice"),
    "web": ("Web form", "Web form"),
}
# channel -> (Freshdesk "source" of a public post, of a private message)
FRESHDESK_SOURCE = {
    "facebook": ("Facebook", "Facebook"),
    "twitter": ("Twitter", "Twitter"),
    "instagram": ("Instagram", "Instagram"),
    "vk": ("VK", "VK"),
    "telegram": ("Telegram", "Telegram"),
    "whatsapp": ("WhatsApp", "WhatsApp"),
    "email": ("Email", "Email"),
    "chat": ("Chat", "Chat"),
    "phone": ("Phone", "Phone"),
    "web": ("Portal", "Portal"),
}
FRESHDESK_PRIORITY = {"urgent": "Urgent", "high": "High", "normal": "Medium", "low": "Low"}
JIRA_PRIORITY = {"urgent": "Highest", "high": "High", "normal": "Medium", "low": "Low"}


def epoch_ms(ts):
    return round(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)


def person(agent):
    return agent[:1].upper() + agent[1:] if agent else ""


class Webhook:
    """Remembers tickets; body(ev) gives the webhook body or None."""

    name = None

    def __init__(self):
        self.tickets = {}

    def body(self, ev):
        t = ev.get("ticket")
        if t is None or ev["type"] in ("sla.warning", "sla.breached"):
            return None
        if ev["type"] == "ticket.created":
            self.tickets[t["id"]] = dict(t, assignee="", status="new")
        tk = self.tickets.get(t["id"])
        if tk is None:
            return None
        if "priority" in t:
            tk["priority"] = t["priority"]
        if "due" in t and ev["type"] != "ticket.created":
            tk["due"] = dict(tk.get("due", {}), **t["due"])
        if "agent" in ev and ev["type"] in ("ticket.assigned", "ticket.replied"):
            tk["assignee"] = person(ev["agent"])
        if ev["type"] == "ticket.replied":
            tk["replied"] = True
        tk["status"] = {"ticket.created": "new", "sla.paused": "pending",
                        "ticket.solved": "solved",
                        "ticket.closed": "closed"}.get(ev["type"], "open")
        body = self.render(ev, tk)
        if ev["type"] == "ticket.closed":
            del self.tickets[t["id"]]
        return body

    @staticmethod
    def number(tk):
        """The helpdesk's ticket number: T-1042 is 1042."""
        return tk["id"].split("-")[-1]


class Zendesk(Webhook):
    """The trigger body of mappings/zendesk.conf: "event" is the word the
    trigger that fired puts there."""

    name = "zendesk"
    EVENT = {"ticket.created": "created", "ticket.replied": "replied",
             "ticket.assigned": "assigned", "sla.resumed": "resumed"}
    STATUS = {"new": "New", "open": "Open", "pending": "Pending", "solved": "Solved",
              "closed": "Closed"}

    def render(self, ev, tk):
        return {"event": self.EVENT.get(ev["type"], "updated"),
                "ticket": {"id": self.number(tk), "title": tk["subject"],
                           "status": self.STATUS[tk["status"]],
                           "priority": tk.get("priority", "").capitalize(),
                           "via": ZENDESK_VIA[tk["channel"]][0 if tk["public"] else 1],
                           "requester": tk["customer"], "group": tk["queue"],
                           "assignee": tk["assignee"], "updated_at": ev["ts"]}}


class Freshdesk(Webhook):
    """The automation-rule body of mappings/freshdesk.conf. It has no time
    and no event id: the board dates it on arrival and dedupes on a hash of
    the body, so two identical bodies are one event."""

    name = "freshdesk"
    EVENT = {"ticket.created": "created", "ticket.replied": "replied",
             "ticket.assigned": "assigned", "sla.resumed": "resumed"}
    STATUS = {"new": "Open", "open": "Open", "pending": "Pending", "solved": "Resolved",
              "closed": "Closed"}

    def render(self, ev, tk):
        return {"event": self.EVENT.get(ev["type"], "updated"),
                "ticket": {"id": self.number(tk), "subject": tk["subject"],
                           "status": self.STATUS[tk["status"]],
                           "priority": FRESHDESK_PRIORITY.get(tk.get("priority"), ""),
                           "source": FRESHDESK_SOURCE[tk["channel"]][0 if tk["public"] else 1],
                           "requester": tk["customer"], "group": tk["queue"],
                           "agent": tk["assignee"]}}


class Jira(Webhook):
    """A Jira Service Management issue webhook as mappings/jira.conf reads
    it, SLA custom fields 10030 and 10031 included when the simulation has
    dues. An agent's reply is a comment_created webhook: a public comment
    (jsdPublic) by a Jira user, not a customer."""

    name = "jira"
    STATUS = {"new": ("Waiting for support", "new"),
              "open": ("Waiting for support", "indeterminate"),
              "pending": ("Waiting for customer", "indeterminate"),
              "solved": ("Resolved", "done"), "closed": ("Closed", "done")}
    EVENT_TYPE = {"ticket.created": "issue_created", "ticket.assigned": "issue_assigned",
                  "ticket.solved": "issue_resolved",
                  "ticket.closed": "issue_closed"}

    def render(self, ev, tk):
        status, category = self.STATUS[tk["status"]]
        fields = {"summary": tk["subject"],
                  "project": {"key": "SUP"},
                  "priority": {"name": JIRA_PRIORITY[tk["priority"]]} if "priority" in tk
                  else None,
                  "status": {"name": status, "statusCategory": {"key": category}},
                  "reporter": {"displayName": tk["customer"]},
                  "assignee": {"displayName": tk["assignee"]} if tk["assignee"] else None}
        for field, sla in (("customfield_10030", "first_response"),
                           ("customfield_10031", "resolution")):
            due = tk.get("due", {}).get(sla)
            if sla == "first_response" and tk.get("replied"):
                due = None      # that cycle is complete; JSM has no next-response SLA
            if due:
                fields[field] = {"ongoingCycle": {"breachTime": {"epochMillis": epoch_ms(due)}}}
        issue = {"key": "SUP-%s" % self.number(tk), "fields": fields}
        if ev["type"] == "ticket.replied":
            return {"timestamp": epoch_ms(ev["ts"]), "webhookEvent": "comment_created",
                    "comment": {"author": {"displayName": tk["assignee"],
                                           "accountType": "atlassian"},
                                "jsdPublic": True, "body": "(reply)"},
                    "issue": issue}
        body = {"timestamp": epoch_ms(ev["ts"]),
                "webhookEvent": ("jira:issue_created" if ev["type"] == "ticket.created"
                                 else "jira:issue_updated"),
                "issue_event_type_name": self.EVENT_TYPE.get(ev["type"], "issue_generic"),
                "issue": issue}
        if ev["type"] == "sla.resumed":
            body["changelog"] = {"items": [{"field": "status",
                                            "fromString": "Waiting for customer",
                                            "toString": "Waiting for support"}]}
        return body


FORMATS = {f.name: f for f in (Zendesk, Freshdesk, Jira)}
