import os

from django.core.wsgi import get_wsgi_application

from revops.startup import freeze_startup_objects

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "revops.settings")
application = get_wsgi_application()
freeze_startup_objects()  # in each web worker: gunicorn loads the application after forking it
