"""Webhook settings, mounted at /o/<org_slug>/settings/webhooks/ (views take org_slug through org_view)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.settings_webhooks, name="settings_webhooks"),
    path("<int:pk>/", views.settings_webhook, name="settings_webhook"),
    path("<int:pk>/rotate/", views.settings_webhook_rotate, name="settings_webhook_rotate"),
    path("<int:pk>/test/", views.settings_webhook_test, name="settings_webhook_test"),
    path("<int:pk>/delete/", views.settings_webhook_delete, name="settings_webhook_delete"),
    path("deliveries/<int:pk>/", views.settings_webhook_delivery, name="settings_webhook_delivery"),
    path(
        "deliveries/<int:pk>/redeliver/", views.settings_webhook_redeliver, name="settings_webhook_redeliver"
    ),
]
