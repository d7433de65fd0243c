"""gunicorn's settings for the dashboard: `make run` (scripts/run.sh), the benchmarks and the
deployment command in the README start gunicorn with ``-c scripts/gunicorn.conf.py``.

Processes, not threads. In ``benchmarks/browse.py`` section 6 on the large demo, the events
tab's server time through gunicorn's threaded workers (gthread: 2 processes x 4 threads, also
with 1 thread each) was 1.9-2.1x the same page in-process, and through sync workers
1.07-1.17x. A sync worker serves one request at a time, so there are 2 x cores + 1 of them
(``WEB_WORKERS`` changes it), and one request may run for ``WEB_TIMEOUT`` seconds (600 unless
set) before the master replaces its worker: the streamed CSV of a whole 4,000,000-event
experiment takes about 13 s.
"""

import multiprocessing
import os

worker_class = "sync"
workers = int(os.environ.get("WEB_WORKERS") or 2 * multiprocessing.cpu_count() + 1)
timeout = int(os.environ.get("WEB_TIMEOUT") or 600)
