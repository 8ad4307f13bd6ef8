"""Monitored people, the DJEN publications that name them, and their CSV imports and exports."""

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.timezone import now as utc_now
from django.utils.translation import gettext_lazy

from scheduler.models import Job
from scheduler.shared import bounds


def default_check_minutes() -> int:
    """VIGIA_PEOPLE_CHECK_MINUTES when a person is created (a callable: see default_timezone)."""
    return settings.VIGIA_PEOPLE_CHECK_MINUTES


class MonitoredPerson(models.Model):
    """Someone a law office watches the national court journal (DJEN) for."""

    # Labels and help texts translated here, once: the dashboard's form, the admin and the badges show them.
    class FirstCheck(models.TextChoices):
        PENDING = "pending", gettext_lazy("pending")
        DONE = "done", gettext_lazy("done")
        FAILED = "failed", gettext_lazy("failed")

    name = models.CharField(gettext_lazy("Name"), max_length=200)
    normalized_name = models.CharField(
        verbose_name=gettext_lazy("Normalized name"),
        max_length=200,
        editable=False,
        help_text=gettext_lazy("No accents, case-folded."),
    )
    document = models.CharField(
        gettext_lazy("CPF/CNPJ"),
        max_length=14,
        blank=True,
        help_text=gettext_lazy(
            "11 digits (CPF) or 14 characters (CNPJ, letters allowed in the first 12), with or without punctuation."
        ),
    )
    oab_number = models.CharField(
        gettext_lazy("OAB number"),
        max_length=7,
        blank=True,
        help_text=gettext_lazy("For a lawyer: publications naming this OAB are kept too."),
    )
    oab_uf = models.CharField(gettext_lazy("OAB state"), max_length=2, blank=True)
    tribunals = models.CharField(
        gettext_lazy("Tribunals"),
        max_length=500,
        blank=True,
        help_text=gettext_lazy("DJEN acronyms separated by commas (TJSP, TRT2); empty: every tribunal."),
    )
    match_in_text = models.BooleanField(
        gettext_lazy("Also match the name in the text"),
        default=False,
        help_text=gettext_lazy("Also keep publications that name the person only in their text."),
    )
    recipients = models.JSONField(
        gettext_lazy("Recipients"),
        default=list,
        blank=True,
        help_text=gettext_lazy("Phones with country code, WhatsApp group JIDs or e-mails, comma-separated."),
    )
    active = models.BooleanField(gettext_lazy("Active"), default=True)
    monitor_until = models.DateField(
        gettext_lazy("Monitor until"),
        null=True,
        blank=True,
        help_text=gettext_lazy("YYYY-MM-DD or DD/MM/YYYY; empty: forever."),
        validators=[bounds.check_date],
    )
    check_interval_minutes = models.PositiveIntegerField(
        gettext_lazy("Check every (minutes)"),
        default=default_check_minutes,
        help_text=gettext_lazy("Between 5 and 10080 minutes."),
    )
    notes = models.TextField(gettext_lazy("Notes"), blank=True)

    last_checked_at = models.DateTimeField(
        verbose_name=gettext_lazy("Last checked at"),
        null=True,
        blank=True,
        help_text=gettext_lazy("The last check, successful or not."),
    )
    last_success_at = models.DateTimeField(verbose_name=gettext_lazy("Last success at"), null=True, blank=True)
    next_check_at = models.DateTimeField(
        verbose_name=gettext_lazy("Next check at"), null=True, blank=True, db_index=True
    )
    first_check = models.CharField(
        verbose_name=gettext_lazy("First check"), max_length=10, choices=FirstCheck.choices, default=FirstCheck.PENDING
    )
    last_error = models.TextField(verbose_name=gettext_lazy("Last error"), blank=True)
    job = models.OneToOneField(
        Job, verbose_name=gettext_lazy("Job"), null=True, blank=True, on_delete=models.SET_NULL, related_name="person"
    )

    created_at = models.DateTimeField(verbose_name=gettext_lazy("Created at"), default=utc_now, editable=False)
    updated_at = models.DateTimeField(verbose_name=gettext_lazy("Updated at"), auto_now=True)

    class Meta:
        verbose_name = gettext_lazy("monitored person")
        verbose_name_plural = gettext_lazy("monitored people")
        constraints = [
            models.UniqueConstraint(fields=["normalized_name", "document"], name="person_unique_identity"),
        ]
        indexes = [
            models.Index(fields=["active", "next_check_at"], name="person_due"),
            models.Index(fields=["monitor_until"], name="person_expiry", condition=models.Q(active=True)),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        from scrapers.people.brazil import normalize_name

        self.normalized_name = normalize_name(self.name)
        if kwargs.get("update_fields") is not None and "name" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "normalized_name"}
        super().save(*args, **kwargs)

    @property
    def topic(self) -> str:
        return f"person:{self.pk}"

    @property
    def tribunal_list(self) -> list[str]:
        return [name for name in self.tribunals.split(",") if name]


class Publication(models.Model):
    """One communication in DJEN, stored once however many people it names."""

    djen_id = models.BigIntegerField(verbose_name=gettext_lazy("DJEN id"), unique=True)
    hash = models.CharField(verbose_name=gettext_lazy("Hash"), max_length=100, blank=True)
    date = models.DateField(
        verbose_name=gettext_lazy("Date"),
        null=True,
        blank=True,
        help_text=gettext_lazy("Made available (data_disponibilizacao)."),
    )
    tribunal = models.CharField(verbose_name=gettext_lazy("Tribunal"), max_length=30, blank=True)
    communication_type = models.CharField(verbose_name=gettext_lazy("Communication type"), max_length=200, blank=True)
    organ = models.CharField(verbose_name=gettext_lazy("Organ"), max_length=500, blank=True)
    process_number = models.CharField(
        verbose_name=gettext_lazy("Process number"), max_length=30, blank=True, db_index=True
    )
    process_number_masked = models.CharField(
        verbose_name=gettext_lazy("Process number (formatted)"), max_length=40, blank=True
    )
    class_name = models.CharField(verbose_name=gettext_lazy("Class"), max_length=300, blank=True)
    class_code = models.CharField(verbose_name=gettext_lazy("Class code"), max_length=30, blank=True)
    document_type = models.CharField(verbose_name=gettext_lazy("Document type"), max_length=200, blank=True)
    medium = models.CharField(
        verbose_name=gettext_lazy("Medium"), max_length=5, blank=True, help_text=gettext_lazy("D journal, E edict.")
    )
    number = models.CharField(verbose_name=gettext_lazy("Number"), max_length=50, blank=True)
    text = models.TextField(
        verbose_name=gettext_lazy("Text"), blank=True, help_text=gettext_lazy("Plain text (DJEN's HTML stripped).")
    )
    link = models.URLField(verbose_name=gettext_lazy("Link"), max_length=2000, blank=True)
    recipients = models.JSONField(verbose_name=gettext_lazy("Recipients"), default=list, blank=True)
    lawyers = models.JSONField(verbose_name=gettext_lazy("Lawyers"), default=list, blank=True)
    first_seen = models.DateTimeField(verbose_name=gettext_lazy("First seen"), default=utc_now)
    people = models.ManyToManyField(
        MonitoredPerson, verbose_name=gettext_lazy("People"), through="PublicationMatch", related_name="publications"
    )

    class Meta:
        verbose_name = gettext_lazy("publication")
        verbose_name_plural = gettext_lazy("publications")
        indexes = [models.Index(fields=["-date", "-djen_id"], name="publication_recent")]

    def __str__(self) -> str:
        return f"{self.tribunal} {self.process_number_masked or self.process_number} ({self.date})"


class PublicationMatch(models.Model):
    """A publication kept for a person, and why it matched."""

    class How(models.TextChoices):
        NAME = "name", gettext_lazy("Named as a recipient")
        OAB = "oab", gettext_lazy("Lawyer's OAB")
        TEXT = "text", gettext_lazy("Named in the text")

    person = models.ForeignKey(
        MonitoredPerson, verbose_name=gettext_lazy("Person"), on_delete=models.CASCADE, related_name="matches"
    )
    publication = models.ForeignKey(
        Publication, verbose_name=gettext_lazy("Publication"), on_delete=models.CASCADE, related_name="matches"
    )
    how = models.CharField(verbose_name=gettext_lazy("How"), max_length=5, choices=How.choices)
    matched_at = models.DateTimeField(verbose_name=gettext_lazy("Matched at"), default=utc_now)

    class Meta:
        verbose_name = gettext_lazy("publication match")
        verbose_name_plural = gettext_lazy("publication matches")
        constraints = [models.UniqueConstraint(fields=["person", "publication"], name="match_unique")]
        indexes = [models.Index(fields=["person", "-matched_at"], name="match_person_recent")]

    def __str__(self) -> str:
        return f"{self.person_id} ↔ {self.publication_id}"


class PeopleTransfer(models.Model):
    """A CSV import or export of monitored people, run as its own job on the workers (scrapers.people.transfers):
    the upload, the live progress, and at the end the per-line report (import) or the file (export). The
    bytes live in the database, so any web or worker host sharing it can read them, and a restart loses
    nothing."""

    class Kind(models.TextChoices):
        IMPORT = "import", gettext_lazy("Import")
        EXPORT = "export", gettext_lazy("Export")

    kind = models.CharField(verbose_name=gettext_lazy("Kind"), max_length=10, choices=Kind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=gettext_lazy("User"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(verbose_name=gettext_lazy("Created at"), default=utc_now, editable=False)
    file_name = models.CharField(
        verbose_name=gettext_lazy("File name"),
        max_length=255,
        blank=True,
        help_text=gettext_lazy("The uploaded file's name (import)."),
    )
    upload = models.BinaryField(
        verbose_name=gettext_lazy("Uploaded file"), null=True, editable=False
    )  # the uploaded CSV (import)
    dry_run = models.BooleanField(verbose_name=gettext_lazy("Dry run"), default=False)
    options = models.JSONField(
        verbose_name=gettext_lazy("Options"), default=dict, blank=True
    )  # export: the list's filters, or the ids; excel
    # The transfer owns its job (Job.owner "people_transfer:<id>"); pruning the job takes the transfer along.
    job = models.OneToOneField(
        Job,
        verbose_name=gettext_lazy("Job"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="people_transfer",
    )
    done = models.PositiveIntegerField(verbose_name=gettext_lazy("Done"), default=0)
    total = models.PositiveIntegerField(
        verbose_name=gettext_lazy("Total"), null=True, blank=True
    )  # known once the file is read
    report = models.JSONField(
        verbose_name=gettext_lazy("Report"), null=True, blank=True
    )  # import: counts and problems; export: rows
    result = models.BinaryField(verbose_name=gettext_lazy("Result"), null=True, editable=False)  # the exported CSV
    error = models.TextField(verbose_name=gettext_lazy("Error"), blank=True)
    finished_at = models.DateTimeField(verbose_name=gettext_lazy("Finished at"), null=True, blank=True)

    # The bytes are read only to run the job or download the result, never to show a page.
    LIGHT = ("upload", "result")

    class Meta:
        verbose_name = gettext_lazy("people transfer")
        verbose_name_plural = gettext_lazy("people transfers")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"
