"""The domain's dashboard pages; each views module lists its own `urls`."""

from scrapers import views_people, views_sources, views_transfers

app_name = "scrapers"
urlpatterns = views_sources.urls + views_people.urls + views_transfers.urls
