"""Strategy reviews now live on the operating review record: the governance migration copied them."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("strategy", "0002_kpi_segments_plan"),
        ("governance", "0003_reviews_from_strategy"),
    ]

    operations = [
        migrations.DeleteModel(name="StrategyDecision"),
        migrations.DeleteModel(name="StrategyReview"),
    ]
