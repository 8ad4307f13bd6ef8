"""The jobs API: declare, read, edit, pause, run and delete jobs; read and cancel runs; look at the queue.

`bodies` reads and checks requests (the body schemas, one variant per job kind, and ApiJobForm), `documents`
writes the answers, `jobs` and `queue` hold the endpoints, all on the one `router` of `routes`.

The views translate between HTTP and what the dashboard already uses: JobForm (the one validation of a job, here
with `callback_url` and the owners' kind rule of the dashboard's editor), scheduler.services (run now, pause,
resume, cancel, delete), scheduler.schedules (the next occurrences) and scheduler.liveness (the Queue page).

- Bodies are flat: the JobForm fields, `external_service`/`external_key` named `service`/`key`. Every answer
  about one job carries the same names, plus what only Vigia writes (id, occurrences, next_run_at…).
- The body's JSON schema has one variant per registered job kind (`kind` const, `params` derived from the
  kind's Params form): a new kind appears in the document by registering. A body is checked against the
  variant of its kind, but for types and unknown fields only: ranges and lengths are left to the forms, so a
  value the dashboard refuses gets the dashboard's message here too. Errors of the params are keyed
  `params.<setting>`.
- (service, key) is a job's identity for its caller: POST returns the job already declared with the pair (200),
  PUT /jobs/by-key/… creates or updates it; a pair another caller (or the dashboard) holds is 409. Safe under
  concurrency: the loser of a race on the unique pair reads the winner's job.
- Secrets: the values of `params.headers` (often tokens) are answered as "********"; writing "********" back
  for a header the job has keeps its value.
- Jobs another object owns (a source's check): the fields that owner writes are 409 here, as they are
  read-only on the dashboard; pausing and resuming (`enabled`) go through services, which keep the owner in step.
"""

from scheduler.api import jobs, queue
from scheduler.api.bodies import schemas
from scheduler.api.documents import MASK
from scheduler.api.routes import router

__all__ = ["MASK", "jobs", "queue", "router", "schemas"]
