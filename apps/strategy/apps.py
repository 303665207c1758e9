from django.apps import AppConfig


class StrategyConfig(AppConfig):
    name = "apps.strategy"
    label = "strategy"
