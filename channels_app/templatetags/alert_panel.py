"""`{% alert_panel "source" source.pk %}`: the alert panel of an object's page (its state in words, and for
operators acknowledge / silence and its alert policy), channels_app.views_alerts'. `{% load alert_panel %}` first."""

from django import template

from channels_app import views_alerts

register = template.Library()


@register.inclusion_tag(views_alerts.PANEL, takes_context=True)
def alert_panel(context: template.Context, prefix: str, pk: object, owned: object = None) -> dict[str, object]:
    """`owned`: a job page says whether another object owns the job (no policy of its own then)."""
    policy = None if owned is None else not owned
    return views_alerts.panel(prefix, pk, context.get("user"), policy=policy)
