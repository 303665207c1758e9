from django.apps import AppConfig


class MeasurementConfig(AppConfig):
    name = "apps.measurement"
    label = "measurement"
