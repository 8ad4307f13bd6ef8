from channels_app import views

app_name = "channels_app"
urlpatterns = views.urls
