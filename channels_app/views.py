"""The delivery dashboard's pages; each views_* module lists its own `urls`."""

from channels_app import views_channels, views_deliveries, views_notify, views_recipients, views_templates

urls = views_channels.urls + views_recipients.urls + views_templates.urls + views_deliveries.urls + views_notify.urls
