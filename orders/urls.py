"""URLs for orders."""

from django.urls import path

from orders import views

app_name = "orders"
urlpatterns = [
    path("", views.order_list, name="list"),
    path("<int:pk>/", views.order_detail, name="detail"),
    path("<int:pk>/jobs/", views.order_jobs_partial, name="jobs"),
    path("<int:pk>/invoice.pdf", views.invoice_pdf, name="invoice_pdf"),
    path("<int:pk>/send-invoice/", views.order_send_invoice, name="send_invoice"),
    path("<int:pk>/charge/", views.order_charge, name="charge"),
    path("<int:pk>/run-pipeline/", views.order_run_pipeline, name="run_pipeline"),
    path("export/", views.order_export, name="export"),
    path("exports/<int:pk>/", views.order_export_download, name="export_download"),
]
