"""Signals the job engine sends.

``job_finished(sender=Job, job=job)`` is sent when a job reaches a final state
(succeeded, failed, cancelled, timed_out), INSIDE the transaction that finished it: a
receiver's writes commit or roll back with the job's end. Receivers must be quick and
must not talk to the network.
"""

from django.dispatch import Signal

job_finished = Signal()
