from django.dispatch import Signal

# Sent after every attempt reaches a final status. Arguments: run (a scheduler.models.Run).
run_finished = Signal()

# Sent by scheduler.services.pause / resume, inside their transaction, so whatever owns a job's schedule
# (a source: Job.owner "source:12") pauses and resumes with it. Arguments: job_ids (list of Job ids);
# jobs_paused also gets reason ("" for an operator's pause).
jobs_paused = Signal()
jobs_resumed = Signal()
