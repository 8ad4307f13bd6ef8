from channels_app import views, views_alerts, views_tokens

app_name = "channels_app"
urlpatterns = views.urls + views_tokens.urls + views_alerts.urls  # API tokens; open alerts (channels_app.views_alerts)
