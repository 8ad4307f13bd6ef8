"""The domain's dashboard pages; each views module lists its own `urls`."""

from scrapers.people import views as views_people
from scrapers.people import views_transfers
from scrapers.sources import views as views_sources

app_name = "scrapers"
urlpatterns = views_sources.urls + views_people.urls + views_transfers.urls
