from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        # Self-hosted installs usually grow by invitation; set ALLOW_SIGNUP=false to require one.
        return getattr(settings, "ALLOW_SIGNUP", True)
