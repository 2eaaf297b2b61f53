"""URLs for orders."""

from django.urls import path

from orders import views

app_name = "orders"
urlpatterns = [
    path("", views.order_list, name="list"),
    path("<int:pk>/", views.order_detail, name="detail"),
    path("<int:pk>/jobs/", views.order_jobs_partial, name="jobs"),
    path("<int:pk>/send-invoice/", views.order_send_invoice, name="send_invoice"),
]
