"""Finance's one endpoint: the local exchange-rate feed `make run` syncs from."""

from django.urls import path

from finance import views

urlpatterns = [
    path("dev/exchange-rates.xml", views.local_exchange_rates, name="local_exchange_rates"),
]
