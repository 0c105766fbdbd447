import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tongban.config.settings")
application = get_wsgi_application()

from tongban.search.text import warm_up  # noqa: E402 - needs Django set up first

warm_up()
