from django.apps import AppConfig


class ObanConfig(AppConfig):
    name = "django_oban"
    verbose_name = "Oban jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
