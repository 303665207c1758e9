"""Forms for the webhook settings pages. They parse input; services validate and write."""

from django import forms
from django.utils.html import format_html

from .events import EVENT_TYPES
from .models import WebhookDelivery

EVENT_TYPE_CHOICES = [
    (key, format_html("<code>{}</code> <span class='help'>{}</span>", key, description))
    for key, description in EVENT_TYPES.items()
]


class WebhookEndpointForm(forms.Form):
    url = forms.URLField(
        max_length=500, label="URL", assume_scheme="https", help_text="Where revops POSTs signed events."
    )
    description = forms.CharField(max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        choices=EVENT_TYPE_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Events",
        help_text="Leave all unticked to receive every event, including types added later.",
    )


class WebhookEndpointEditForm(WebhookEndpointForm):
    is_active = forms.BooleanField(
        required=False, label="Active", help_text="Re-activating clears the failure count."
    )


class DeliveryFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *WebhookDelivery.Status.choices], required=False)
