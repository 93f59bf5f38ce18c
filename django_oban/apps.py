from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class ObanConfig(AppConfig):
    name = "django_oban"
    verbose_name = "Oban jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the system checks and plug the runtime and the Tasks backend into
        ``django_oban.workers.extensions`` (imported here: they need the app registry)."""
        from . import checks  # noqa: F401  (registers the system checks)
        from .runtime.inline import run_inline
        from .workers import extensions

        extensions.inline_runner = run_inline
        try:
            from .tasks.runner import worker_for
        except ImproperlyConfigured:  # neither django.tasks nor the django-tasks backport: no tasks
            return
        if worker_for not in extensions.worker_finders:
            extensions.worker_finders.append(worker_for)
