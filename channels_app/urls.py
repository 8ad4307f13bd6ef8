from channels_app import views, views_tokens

app_name = "channels_app"
urlpatterns = views.urls + views_tokens.urls  # the API tokens page: channels_app.views_tokens
