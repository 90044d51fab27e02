import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")
application = get_wsgi_application()

# Load the URLconf (and with it every view module) now, then take everything loaded so far out
# of the garbage collector's reach (gc.freeze): its collections during requests then no longer
# walk Django's long-lived objects. Measured: ~2.5 ms less CPU per 500-event /v1/batch request
# (about a fifth of the Python time; docs/benchmarks.md, "Integration API").
get_resolver().url_patterns  # noqa: B018  (evaluated for its side effect: importing the views)
gc.freeze()
